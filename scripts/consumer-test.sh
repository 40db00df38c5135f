#!/usr/bin/env bash
# The consumer test (docs/install.md): uses the library the way another
# project would, from what `cmake --install` and the .deb ship, not from the
# source tree. Called by scripts/test.sh after the release build.
#
#   scripts/consumer-test.sh [BUILD_DIR]      (default build/release)
#
# 1. installs BUILD_DIR into a temporary prefix and compiles every installed
#    header on its own with only that prefix on the include path (so no
#    header from src/ leaks into the public API);
# 2. builds examples/ out of tree with find_package(zae_limiter CONFIG) and
#    runs it on memory: and sqlite:;
# 3. builds the same example with plain c++ $(pkg-config ...) and runs it;
# 4. builds the .deb with CPack, checks its contents and dependencies,
#    extracts it into a throw-away root (dpkg -x) and runs its command.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "${1:-$root/build/release}" && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/zae-consumer.XXXXXX")
trap 'rm -rf "$work"' EXIT
prefix=$work/prefix
version=$(sed -n 's/^#define ZAE_VERSION_STRING "\(.*\)"$/\1/p' "$build/generated/include/zae/version.h")
commit=$(git -C "$root" rev-parse --short=12 HEAD 2>/dev/null || echo unknown)

fail() { echo "consumer-test: $*" >&2; exit 1; }
expect() {  # expect FILE PATTERN: FILE has a line matching PATTERN
  grep -q -- "$2" "$1" || { cat "$1" >&2; fail "expected '$2' in $1"; }
}
run_example() {  # run_example BINARY NAME
  "$1" memory: >"$work/$2.memory.out" || fail "$2 memory: failed"
  expect "$work/$2.memory.out" "^zae-limiter $version\$"
  expect "$work/$2.memory.out" '^request  0: ok, used 480 tokens$'
  expect "$work/$2.memory.out" '^request 11: 429, Retry-After: '
  "$1" "sqlite:$work/$2.db" >"$work/$2.sqlite.out" || fail "$2 sqlite: failed"
  expect "$work/$2.sqlite.out" '^request  0: ok, used 480 tokens$'
  [[ -s $work/$2.db ]] || fail "$2 wrote no SQLite file"
  "$1" "nosuch:store" >/dev/null 2>"$work/$2.err" && fail "$2 accepted a bad store URL"
  expect "$work/$2.err" '^llm_gateway: '
  echo "  $2: ran on memory: and sqlite:, refused a bad URL"
}

echo "== install into $prefix"
cmake --install "$build" --prefix "$prefix" >"$work/install.log"
for f in lib/libzae_limiter.a lib/cmake/zae_limiter/zae_limiterConfig.cmake \
         lib/cmake/zae_limiter/zae_limiterConfigVersion.cmake \
         lib/pkgconfig/zae-limiter.pc include/zae/rate_limiter.h include/zae/version.h \
         bin/zae-limiter; do
  [[ -e $prefix/$f ]] || fail "not installed: $f"
done
# Exactly the public headers, plus the generated version.h.
(cd "$root/include" && ls zae/*.h; echo zae/version.h) | sort >"$work/want.h"
(cd "$prefix/include" && find . -type f | sed 's|^\./||' | sort) >"$work/got.h"
diff -u "$work/want.h" "$work/got.h" || fail "installed headers differ from include/zae/"
while read -r h; do
  echo "#include \"$h\"" | c++ -std=c++20 -fsyntax-only -I"$prefix/include" -x c++ - \
    || fail "$h does not compile on its own from the installed prefix"
done <"$work/got.h"
echo "  $(wc -l <"$work/got.h") headers, each self-contained"

echo "== find_package(zae_limiter CONFIG) from an out-of-tree project"
cmake -S "$root/examples" -B "$work/cmake-consumer" -DCMAKE_PREFIX_PATH="$prefix" \
  -DCMAKE_BUILD_TYPE=Release >"$work/configure.log" || { cat "$work/configure.log"; fail "configure"; }
cmake --build "$work/cmake-consumer" -j"${ZAE_JOBS:-2}" >"$work/build.log" \
  || { cat "$work/build.log"; fail "build against the installed package"; }
run_example "$work/cmake-consumer/llm_gateway" cmake

echo "== c++ \$(pkg-config --cflags --libs zae-limiter)"
export PKG_CONFIG_PATH=$prefix/lib/pkgconfig
[[ $(pkg-config --modversion zae-limiter) == "$version" ]] || fail "pkg-config version"
# shellcheck disable=SC2046  # pkg-config's output is meant to split
c++ -O1 -o "$work/llm_gateway_pc" "$root/examples/llm_gateway.cc" \
  $(pkg-config --cflags --libs zae-limiter) || fail "pkg-config build"
run_example "$work/llm_gateway_pc" pkg-config

echo "== Debian package (CPack)"
(cd "$build" && cpack -G DEB -B "$work/deb" >"$work/cpack.log") || { cat "$work/cpack.log"; fail "cpack"; }
deb=$(ls "$work"/deb/zae-limiter_"$version"_*.deb)
dpkg-deb --field "$deb" Depends >"$work/depends"
for dep in libsqlite3-0 libssl3 libxml2 libyaml-cpp0.7 libstdc++6; do
  expect "$work/depends" "$dep"
done
dpkg-deb --contents "$deb" >"$work/contents"
for f in ./usr/bin/zae-limiter ./usr/include/zae/rate_limiter.h ./usr/lib/libzae_limiter.a \
         ./usr/lib/cmake/zae_limiter/zae_limiterConfig.cmake ./usr/lib/pkgconfig/zae-limiter.pc; do
  expect "$work/contents" " $f\$"
done
dpkg -x "$deb" "$work/root"
bin=$work/root/usr/bin/zae-limiter
"$bin" --version >"$work/version.out"
expect "$work/version.out" "^zae-limiter $version (commit $commit"
"$bin" --store "sqlite:$work/deb.db" resource set-defaults gpt-4 -l rpm:2/min >/dev/null
"$bin" --store "sqlite:$work/deb.db" acquire k gpt-4 -c rpm=2 --output json >"$work/acq.json"
expect "$work/acq.json" '"allowed": *true'
set +e
"$bin" --store "sqlite:$work/deb.db" acquire k gpt-4 -c rpm=1 --output json >"$work/acq2.json"
code=$?
set -e
[[ $code -eq 3 ]] || fail "the packaged command exited $code, not 3 (denied), over the limit"
expect "$work/acq2.json" '"allowed": *false'
echo "  $(basename "$deb"): Depends $(cat "$work/depends")"
echo "  extracted with dpkg -x; its zae-limiter ran (version, set-defaults, acquire, denial)"
echo "consumer test passed"
