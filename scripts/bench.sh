#!/usr/bin/env bash
# Reproduces docs/benchmarks.md: the Google Benchmark micro-benchmarks and
# `zae-limiter bench` on memory, SQLite and DynamoDB Local (started here and
# stopped on exit). Usage: scripts/bench.sh [SECONDS_PER_SCENARIO]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
# Ninja (scripts/deps.txt) schedules the whole build at once; Makefiles
# serialise at directory boundaries. Every script uses the same generator
# for build/release, which CMake requires of a build directory.
export CMAKE_GENERATOR=${CMAKE_GENERATOR:-Ninja}
secs=${1:-2}
scripts/deps.sh
cmake -S . -B build/release -DCMAKE_BUILD_TYPE=Release -DZAE_WERROR=ON >/dev/null
cmake --build build/release -j"$(nproc)" --target zae-limiter zae_core_bench zae_limiter_bench zae_aws_bench
bin=build/release/src/cli/zae-limiter
out=build/bench
mkdir -p "$out"
state=$out/ddb
trap 'scripts/dynamodb-local.sh stop "$state"' EXIT
endpoint=$(scripts/dynamodb-local.sh start "$state")
export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test

echo "== micro-benchmarks"
build/release/bench/zae_core_bench --benchmark_min_time=0.5
build/release/bench/zae_limiter_bench --benchmark_min_time=0.5
build/release/bench/zae_aws_bench --benchmark_filter=-DynamoLocal --benchmark_min_time=1
echo "== rival: rate-limiter-flexible (Node.js)"
scripts/rival.sh 1

run() {  # store label args...
  local store=$1 label=$2
  shift 2
  echo "== $label"
  "$bin" --store "$store" bench --duration "$secs" --warmup 0.5 "$@" | tee "$out/$label.txt"
}
rm -f "$out/bench.db"*
run memory: memory-all -s all
run "sqlite:$out/bench.db" sqlite-all -s all
"$bin" --store "dynamodb://bench?region=us-east-1&endpoint=$endpoint" deploy >/dev/null
run "dynamodb://bench?region=us-east-1&endpoint=$endpoint" dynamodb-all -s all
for store in memory: "sqlite:$out/bench.db" "dynamodb://bench?region=us-east-1&endpoint=$endpoint"; do
  name=${store%%:*}
  run "$store" "$name-x1" -s multi --threads 1 --inflight 1
  run "$store" "$name-x8" -s multi --threads 2 --inflight 4
  run "$store" "$name-x64" -s multi --threads 2 --inflight 32
done
"$bin" --store "dynamodb://narrow?region=us-east-1&endpoint=$endpoint" deploy --narrow-gsi2 >/dev/null
run "dynamodb://narrow?region=us-east-1&endpoint=$endpoint" dynamodb-narrow -s single,multi
# Two processes sharing one SQLite file (sum the two ops/s).
echo "== sqlite-2proc"
for p in a b; do
  "$bin" --store "sqlite:$out/bench.db" bench -s single --duration "$secs" --warmup 0.5 \
    >"$out/sqlite-2proc-$p.txt" &
done
wait
cat "$out"/sqlite-2proc-*.txt
# The client alone against DynamoDB Local, now warm (JIT): the rate the
# limiter's 64-in-flight run above is compared with.
echo "== aws client"
ZAE_BENCH_DYNAMODB_ENDPOINT=$endpoint build/release/bench/zae_aws_bench \
  --benchmark_filter=DynamoLocal --benchmark_min_time=2
# Steady memory: resident size before and after a long run (the "rss" line).
# 10^6 operations on the embedded stores; DynamoDB Local serves a few hundred
# per second, so 30,000 there.
run memory: memory-steady -s single --ops 1000000
run "sqlite:$out/bench.db" sqlite-steady -s single --ops 1000000
run "dynamodb://bench?region=us-east-1&endpoint=$endpoint" dynamodb-steady -s single --ops 30000
