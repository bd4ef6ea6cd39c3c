#!/usr/bin/env bash
# The build contract: salesengine builds warning-free (-DSE_WERROR=ON) in every
# CMake build type (Release, RelWithDebInfo, Debug, MinSizeRel) with gcc and
# clang, under Debian's hardening flags (dpkg-buildflags with hardening=+all),
# as a packager builds it (-DBUILD_TESTING=OFF). Builds into DIR/<cc>-<type>.
#   tools/build_matrix.sh DIR [CC:TYPE...]     (default: all eight)
# The test suite passes the one that tools/test.sh does not build otherwise,
# gcc MinSizeRel: gcc Release is the package's build (tools/package_test.sh),
# gcc RelWithDebInfo is build/ and clang RelWithDebInfo is build-asan/ (both
# hardened by tools/test.sh). The hardening flags hold -O2, which the Debug
# type keeps (its own flag is -g), so a Debug build compiles each file with the
# flags of RelWithDebInfo but -DNDEBUG, which changes no line: engine/ and
# bindings/ use neither assert nor NDEBUG (lint.layers checks it). Release
# (-O3) and MinSizeRel (-Os) do change gcc's code and warnings (such as
# -Wuse-after-free, which depend on the optimisation level). clang's warnings
# come from its front end, the same at every optimisation level, so its
# Release and MinSizeRel add nothing to build-asan/ but time.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:?usage: tools/build_matrix.sh DIR [CC:TYPE...]}
shift
combos=("$@")
if [ ${#combos[@]} -eq 0 ]; then
  for cc in gcc clang; do
    for type in Release RelWithDebInfo Debug MinSizeRel; do combos+=("$cc:$type"); done
  done
fi
eval "$(DEB_BUILD_MAINT_OPTIONS=hardening=+all dpkg-buildflags --export=sh)"
failed=()
for combo in "${combos[@]}"; do
  cc=${combo%%:*} type=${combo#*:}
  dir=$out/$cc-$type
  log=$out/$cc-$type.log
  mkdir -p "$out"
  # CMake reads CFLAGS and LDFLAGS from the environment; CPPFLAGS (-D_FORTIFY_SOURCE) goes with CFLAGS
  if CC=$cc CFLAGS="$CFLAGS $CPPFLAGS" LDFLAGS="$LDFLAGS" \
      cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=$type -DBUILD_TESTING=OFF -DSE_WERROR=ON >"$log" 2>&1 &&
    cmake --build "$dir" -j2 --target salesengine >>"$log" 2>&1 &&
    "$dir/salesengine" -e 'assert(require("salesengine").version)' >>"$log" 2>&1; then
    echo "build_matrix: $cc $type: ok"
  else
    echo "build_matrix: $cc $type: FAILED"
    grep -E 'warning|error' "$log" | head -20
    failed+=("$cc-$type")
  fi
done
[ ${#failed[@]} -eq 0 ] || { echo "build_matrix: failed: ${failed[*]}" >&2; exit 1; }
