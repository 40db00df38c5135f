#!/usr/bin/env bash
# The project's test command (README, .ci/run): installs what is missing,
# builds a release (-Werror) and an ASan+UBSan configuration, starts
# DynamoDB Local, runs every test in both, runs the fuzzers briefly, and
# checks formatting. DynamoDB Local is stopped by PID even when tests fail.
# The ASan build is also the coverage build (gcov): its run ends with the
# coverage table and fails under scripts/coverage-threshold. The release
# build runs the benchmark regression guard and the consumer test (the
# installed library used from another project, and the .deb). All of it:
# docs/development.md.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
# Ninja (scripts/deps.txt) schedules the whole build at once; Makefiles
# serialise at directory boundaries. Every script uses the same generator
# for build/release, which CMake requires of a build directory.
export CMAKE_GENERATOR=${CMAKE_GENERATOR:-Ninja}
jobs=${ZAE_JOBS:-$(nproc)}

step() { printf '\n== %s\n' "$*"; }
# ctest counts a skipped test as passed: fail on any "(Skipped)" in its log.
# With DynamoDB Local up (ZAE_REQUIRE_DYNAMODB=1 below) nothing may skip.
no_skips() {
  if grep -E '\(Skipped\)' "$1"; then
    echo "error: the tests above were skipped; this run must skip none" >&2
    return 1
  fi
}

step "dependencies"
scripts/deps.sh
scripts/dynamodb-local.sh install

step "format check"
scripts/format.sh --check

step "configure + build (release, -Werror)"
cmake -S . -B build/release -DCMAKE_BUILD_TYPE=Release -DZAE_WERROR=ON >/dev/null
cmake --build build/release -j"$jobs"

step "configure + build (asan+ubsan, coverage)"
cmake -S . -B build/asan -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_FLAGS_DEBUG="-O1 -g1" \
  -DZAE_SANITIZE=ON -DZAE_COVERAGE=ON -DZAE_BUILD_BENCH=OFF -DZAE_WERROR=ON >/dev/null
cmake --build build/asan -j"$jobs"

step "start DynamoDB Local"
state=$root/build/ddb
trap 'scripts/dynamodb-local.sh stop "$state"' EXIT
ZAE_TEST_DYNAMODB_ENDPOINT=$(scripts/dynamodb-local.sh start "$state")
export ZAE_TEST_DYNAMODB_ENDPOINT
export ZAE_REQUIRE_DYNAMODB=1  # a DynamoDB case that cannot run fails
echo "DynamoDB Local at $ZAE_TEST_DYNAMODB_ENDPOINT"

step "tests (release)"
ctest --test-dir build/release --output-on-failure -j"$jobs" --timeout 600 2>&1 |
  tee build/ctest-release.log
no_skips build/ctest-release.log

step "consumer test: install, find_package, pkg-config, .deb (release)"
scripts/consumer-test.sh build/release

step "benchmark regression guard (release)"
python3 scripts/bench_guard.py --build build/release

step "tests (asan+ubsan, coverage)"
find build/asan -name '*.gcda' -delete  # counts from this run only
# Run in the release build only, to keep this run's wall time in budget:
# - the DynamoDB variants of the sharding workloads (thousands of acquires,
#   5 min of DynamoDB Local time under ASan): their limiter code runs here
#   on memory and SQLite, their client code in every other DynamoDB test;
# - the aggregator's kill loop (2.5 min under ASan): its recovery code runs
#   here in AggregatorTest's other cases;
# - the fault suite's `allow` half: the `block` half sends the same faults
#   through the same client and store code; the two differ only in the
#   policy branch, which the on_unavailable tests cover here.
release_only='^Stores/(Sharding\..*|RequestCount\.S13.*)/dynamodb'
release_only+='|^AggregatorTest\.ExactAfterRepeatedKills$'
release_only+='|^Faults/FaultInjection\..*_Allow( |$)'
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
  ctest --test-dir build/asan --output-on-failure -j"$jobs" --timeout 900 \
  -E "$release_only" 2>&1 |
  tee build/ctest-asan.log
no_skips build/ctest-asan.log

step "coverage (asan build)"
python3 scripts/coverage.py build/asan

if [[ -x scripts/fuzz.sh ]]; then
  step "fuzz (bounded)"
  scripts/fuzz.sh "${ZAE_FUZZ_SECONDS:-10}"
fi

step "work tree left clean"
# DynamoDB Local runs without telemetry and writes nothing into the tree.
stray=$(find . -path ./.cache -prune -o -name dynamodb-local-metadata.json -print)
if [[ -n $stray ]]; then
  echo "DynamoDB Local wrote telemetry metadata: $stray" >&2
  exit 1
fi

step "all tests passed"
