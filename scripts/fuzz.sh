#!/usr/bin/env bash
# Builds every libFuzzer target (clang 14) in build/fuzz and runs each for a
# bounded time: the DynamoDB response parser, the SQLite row decoder and the
# CLI limit syntax, the HTTP client's URL split, the server's rule file and the typed DynamoDB write's
# answer reader. A crash fails the script.
#   scripts/fuzz.sh [SECONDS_PER_TARGET]    (default 30)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
seconds=${1:-30}
build=$root/build/fuzz
CC=clang-14 CXX=clang++-14 cmake -S "$root" -B "$build" -DZAE_FUZZ=ON -DZAE_BUILD_TESTS=OFF \
  -DZAE_BUILD_BENCH=OFF -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
targets=(src/aws/zae_aws_fuzz_response src/aws/zae_aws_fuzz_url src/store/sqlite/item_codec_fuzz src/cli/zae_limit_syntax_fuzz
  src/server/zae_rules_fuzz src/store/dynamodb/zae_bucket_answer_fuzz)
cmake --build "$build" -j2 --target "${targets[@]##*/}"
for target in "${targets[@]}"; do
  name=${target##*/}
  corpus=$build/corpus/$name
  mkdir -p "$corpus"
  seeds=$root/$(dirname "$target")/fuzz/corpus
  [[ -d $seeds ]] && cp -n "$seeds"/* "$corpus"/ 2>/dev/null || true
  echo "fuzz: $name for ${seconds}s"
  "$build/$target" -max_total_time="$seconds" -max_len=65536 -timeout=10 -rss_limit_mb=2048 \
    "$corpus" 2>"$build/$name.log" || { tail -40 "$build/$name.log"; exit 1; }
  grep -E "^Done|stat::number_of_executed_units" "$build/$name.log" | tail -1 || true
done
