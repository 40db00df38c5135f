#!/usr/bin/env bash
# Load figures of `zae-limiter serve` (docs/benchmarks.md): the server and
# `zae-limiter bench --target` share this machine's cores. For each store
# (memory, SQLite) it starts a server on free loopback ports and drives it
# over gRPC (64 calls in flight from one thread) and HTTP (/json, 8
# connections), reporting calls/s, latency and client and server CPU per
# call; on SQLite (and DynamoDB) also the HTTP lease round trip. With
# ZAE_BENCH_DYNAMODB_ENDPOINT=URL, DynamoDB Local as a third store.
# Usage: scripts/bench-serve.sh [SECONDS] (default 5). Builds nothing:
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
stores=(memory: "sqlite:$work/zae.db")
# DynamoDB Local too when given one (scripts/dynamodb-local.sh start DIR
# prints its endpoint), next to the library's own async bench on it.
if [[ -n ${ZAE_BENCH_DYNAMODB_ENDPOINT:-} ]]; then
  export AWS_ACCESS_KEY_ID=${AWS_ACCESS_KEY_ID:-test} AWS_SECRET_ACCESS_KEY=${AWS_SECRET_ACCESS_KEY:-test}
  ddb="dynamodb://zae-serve-bench?region=us-east-1&endpoint=$ZAE_BENCH_DYNAMODB_ENDPOINT"
  "$zae" --store "$ddb" deploy >/dev/null
  stores+=("$ddb")
fi
for store in "${stores[@]}"; do
  # The HTTP lease round trip needs a stored limit ("chat"); a memory
  # store starts empty in the server's process, so it has none.
  if [[ $store != memory: ]]; then
    "$zae" --store "$store" resource set-defaults chat -l rpm:1000000000 >/dev/null
  fi
  # DynamoDB Local serves a few hundred writes a second here, so 64 calls in
  # flight queue: a long deadline (as the library's bench uses) and warm-up
  # that makes the 100 buckets first, so queueing shows as latency.
  timeout=() warmup=1
  if [[ $store == dynamodb:* ]]; then
    timeout=(--timeout 60) warmup=8
    # A fresh emulator (a JVM) serves a third as fast for its first half
    # minute or so; warm it with the library's bench (not a figure), so the
    # server's runs and the library's run below meet the same emulator.
    echo "== warming DynamoDB Local up (30 s, not reported)"
    "$zae" --store "$store" bench -s single --threads 1 --inflight 64 --mode async \
      --duration 30 --warmup 0 >/dev/null 2>&1 || true
  fi
  gp=$(free_port); hp=$(free_port)
  "$zae" --store "$store" "${timeout[@]}" serve --config "$work/rules.yaml" --drain-seconds 0 \
    --grpc-listen "127.0.0.1:$gp" --http-listen "127.0.0.1:$hp" 2>"$work/serve.log" &
  pid=$!
  for _ in $(seq 100); do
    /usr/bin/python3 -c "import urllib.request as u; u.urlopen('http://127.0.0.1:$hp/healthz', timeout=1)" 2>/dev/null && break
    sleep 0.1
  done
  echo "== store ${store%%\?*}"
  "$zae" bench --target "grpc://127.0.0.1:$gp" --inflight 64 --duration "$seconds" --warmup "$warmup" \
    --server-pid "$pid" 2>/dev/null || true  # a run with errors exits 1: report it all the same
  "$zae" bench --target "http://127.0.0.1:$hp" --inflight 8 --duration "$seconds" --warmup "$warmup" \
    --server-pid "$pid" 2>/dev/null || true
  if [[ $store != memory: ]]; then
    "$zae" bench --target "http://127.0.0.1:$hp" --inflight 8 --duration "$seconds" --server-pid "$pid" \
      --warmup "$warmup" --lease chat:rpm 2>/dev/null || true
  fi
  kill -TERM "$pid"; wait "$pid" || true
  if [[ $store == dynamodb:* ]]; then
    echo "== the library's own async bench on the same DynamoDB Local (64 in flight, one thread)"
    "$zae" --store "$store" bench -s single --threads 1 --inflight 64 --mode async \
      --duration "$seconds" --warmup "$warmup" 2>/dev/null || true
  fi
done
