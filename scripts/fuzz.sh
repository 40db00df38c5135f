#!/usr/bin/env bash
# Builds the DynamoDB response-parser fuzzer with clang 14 + libFuzzer in
# build/fuzz and runs it for a bounded time.
#   scripts/fuzz.sh [SECONDS]    (default 30)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
seconds=${1:-30}
build=$root/build/fuzz
CC=clang-14 CXX=clang++-14 cmake -S "$root" -B "$build" -DZAE_FUZZ=ON -DZAE_BUILD_TESTS=OFF \
  -DZAE_BUILD_BENCH=OFF -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build" -j2 --target zae_aws_fuzz_response
corpus=$build/corpus
mkdir -p "$corpus"
cp -n "$root"/src/aws/fuzz/corpus/* "$corpus"/ 2>/dev/null || true
"$build"/src/aws/zae_aws_fuzz_response -max_total_time="$seconds" -max_len=65536 \
  -timeout=10 -rss_limit_mb=2048 "$corpus"
