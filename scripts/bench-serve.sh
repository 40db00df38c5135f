#!/usr/bin/env bash
# Load figures of `zae-limiter serve` (docs/benchmarks.md): the server and
# `zae-limiter bench --target` share this machine's cores. For each store
# (memory, SQLite) it starts a server on free loopback ports and drives it
# over gRPC (64 calls in flight from one thread) and HTTP (/json, 8
# connections), reporting calls/s, latency and client and server CPU per
# call. Usage: scripts/bench-serve.sh [SECONDS] (default 5). Builds nothing:
# run it after scripts/test.sh or a release build (BUILD=build/release).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
seconds=${1:-5}
zae=${BUILD:-$root/build/release}/src/cli/zae-limiter
work=$(mktemp -d)
trap 'kill "$pid" 2>/dev/null || true; rm -rf "$work"' EXIT
cat > "$work/rules.yaml" <<'YAML'
domains:
  - name: bench
    rules:
      - match: [api_key]
        entity: $api_key
        resource: api
        limit: rpm
YAML
free_port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
for store in memory: "sqlite:$work/zae.db"; do
  gp=$(free_port); hp=$(free_port)
  "$zae" --store "$store" serve --config "$work/rules.yaml" --drain-seconds 0 \
    --grpc-listen "127.0.0.1:$gp" --http-listen "127.0.0.1:$hp" 2>"$work/serve.log" &
  pid=$!
  for _ in $(seq 100); do
    /usr/bin/python3 -c "import urllib.request as u; u.urlopen('http://127.0.0.1:$hp/healthz', timeout=1)" 2>/dev/null && break
    sleep 0.1
  done
  echo "== store $store"
  "$zae" bench --target "grpc://127.0.0.1:$gp" --inflight 64 --duration "$seconds" --server-pid "$pid" 2>/dev/null
  "$zae" bench --target "http://127.0.0.1:$hp" --inflight 8 --duration "$seconds" --server-pid "$pid" 2>/dev/null
  kill -TERM "$pid"; wait "$pid" || true
done
