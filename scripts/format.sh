#!/usr/bin/env bash
# clang-format every C++ file of the project; --check only reports.
set -euo pipefail
cd "$(dirname "$0")/.."
fmt=$(command -v clang-format-14 || command -v clang-format)
mapfile -t files < <(git ls-files --cached --others --exclude-standard -- '*.h' '*.cc' | grep -v '^testdata/')
[[ ${#files[@]} -eq 0 ]] && exit 0
if [[ ${1:-} == --check ]]; then
  "$fmt" --dry-run --Werror "${files[@]}"
else
  "$fmt" -i "${files[@]}"
fi
