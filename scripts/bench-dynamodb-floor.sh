#!/usr/bin/env bash
# Client CPU per warm acquire on DynamoDB Local next to the machine's floor
# (wrk sending the limiter's own fast-path request pre-built) and the bare
# client, in one run (docs/benchmarks.md, "DynamoDB: client CPU").
#   scripts/bench-dynamodb-floor.sh [SECONDS [ROUNDS [WARM_SECONDS]]]
# BUILD=DIR uses (and builds) that release tree instead of build/release.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
# Ninja (scripts/deps.txt) schedules the whole build at once; Makefiles
# serialise at directory boundaries. Every script uses the same generator
# for build/release, which CMake requires of a build directory.
export CMAKE_GENERATOR=${CMAKE_GENERATOR:-Ninja}
scripts/deps.sh
scripts/dynamodb-local.sh install
build=${BUILD:-build/release}
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DZAE_WERROR=ON >/dev/null
cmake --build "$build" -j"$(nproc)" --target zae-limiter zae_aws_bench >/dev/null
state=$root/build/ddb-floor
trap 'scripts/dynamodb-local.sh stop "$state"' EXIT
endpoint=$(scripts/dynamodb-local.sh start "$state")
python3 scripts/dynamodb_floor.py --endpoint "$endpoint" --cli "$build/src/cli/zae-limiter" \
  --aws-bench "$build/bench/zae_aws_bench" --seconds "${1:-10}" --rounds "${2:-3}" \
  --warm "${3:-60}"
