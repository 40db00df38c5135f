#!/usr/bin/env bash
# The main job, from a fresh clone: installs what is missing, builds the
# zae-limiter command (release, same flags as scripts/test.sh), and runs the
# LLM-gateway simulation on the embedded default store
# ($XDG_DATA_HOME/zae-limiter/zae.db). Arguments go to `zae-limiter demo`,
# e.g. scripts/demo.sh --seed 7 --speed 0.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
# Ninja (scripts/deps.txt) schedules the whole build at once; Makefiles
# serialise at directory boundaries. Every script uses the same generator
# for build/release, which CMake requires of a build directory.
export CMAKE_GENERATOR=${CMAKE_GENERATOR:-Ninja}
jobs=${ZAE_JOBS:-$(nproc)}

scripts/deps.sh
cmake -S . -B build/release -DCMAKE_BUILD_TYPE=Release -DZAE_WERROR=ON >/dev/null
cmake --build build/release -j"$jobs" --target zae-limiter
exec build/release/src/cli/zae-limiter demo "$@"
