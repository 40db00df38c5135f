#!/usr/bin/env bash
# The rival in memory, measured beside our benchmarks in the same run:
# rate-limiter-flexible's RateLimiterMemory on Node.js, installed from npm
# under build/rival/ (only by the benchmark scripts, never by the test
# command). Usage: scripts/rival.sh [SECONDS_PER_ROUND]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
rival=build/rival
if [[ ! -d $rival/node_modules/rate-limiter-flexible ]]; then
  mkdir -p "$rival"
  (cd "$rival" && npm init -y >/dev/null && npm install --no-audit --no-fund rate-limiter-flexible@5 >/dev/null)
fi
NODE_PATH=$rival/node_modules node bench/rival/rate_limiter_flexible.js "${1:-1}"
