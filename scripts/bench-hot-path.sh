#!/usr/bin/env bash
# The hot-path benchmarks of docs/benchmarks.md in one run: the limiter's
# Google Benchmark set (memory, SQLite and its bare-SQLite floor, threads,
# denials, allocations, bytes per bucket), the Node.js rival, and
# `zae-limiter bench` with its own overhead (noop). With a second build
# directory, that build's zae_limiter_bench and zae-limiter run first, so
# old and new figures come from one run:
#   scripts/bench-hot-path.sh [OLD_BUILD_DIR]
# e.g. git worktree add /tmp/old f494750 && cmake -S /tmp/old -B /tmp/old/build \
#   -DCMAKE_BUILD_TYPE=Release && cmake --build /tmp/old/build --target zae_limiter_bench zae-limiter
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
# Ninja (scripts/deps.txt) schedules the whole build at once; Makefiles
# serialise at directory boundaries. Every script uses the same generator
# for build/release, which CMake requires of a build directory.
export CMAKE_GENERATOR=${CMAKE_GENERATOR:-Ninja}
old=${1:-}
cmake -S . -B build/release -DCMAKE_BUILD_TYPE=Release -DZAE_WERROR=ON >/dev/null
cmake --build build/release -j"$(nproc)" --target zae_limiter_bench zae-limiter >/dev/null
out=build/bench
mkdir -p "$out"
gb=(--benchmark_min_time=0.5 --benchmark_repetitions=3 --benchmark_report_aggregates_only=true)
if [[ -n $old ]]; then
  echo "== old build: $old"
  "$old/bench/zae_limiter_bench" "${gb[@]}" | tee "$out/hotpath-old-gb.txt"
  for store in memory: "sqlite:$out/old.db"; do
    rm -f "$out/old.db"*
    "$old/src/cli/zae-limiter" --store "$store" bench -s single --duration 2 --warmup 0.5
  done
fi
echo "== new build"
build/release/bench/zae_limiter_bench "${gb[@]}" | tee "$out/hotpath-new-gb.txt"
echo "== rival: rate-limiter-flexible (Node.js)"
scripts/rival.sh 1
echo "== zae-limiter bench"
for s in noop single; do
  build/release/src/cli/zae-limiter --store memory: bench -s "$s" --duration 2 --warmup 0.5
done
rm -f "$out/new.db"*
build/release/src/cli/zae-limiter --store "sqlite:$out/new.db" bench -s single --duration 2 --warmup 0.5
