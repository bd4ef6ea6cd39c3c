#!/usr/bin/env bash
# The build contract: salesengine builds warning-free (-DSE_WERROR=ON) in every
# CMake build type (Release, RelWithDebInfo, Debug, MinSizeRel) with gcc and
# clang, under Debian's hardening flags (dpkg-buildflags with hardening=+all),
# as a packager builds it (-DBUILD_TESTING=OFF). Builds into DIR/<cc>-<type>.
#   tools/build_matrix.sh DIR [CC:TYPE...]     (default: all eight)
# The test suite passes the two that tools/test.sh does not build otherwise:
# gcc Release is the package's build (tools/package_test.sh), gcc
# RelWithDebInfo is build/ and clang RelWithDebInfo is build-asan/ (both
# hardened by tools/test.sh). gcc's warnings, such as -Wuse-after-free,
# depend on the optimisation level: each gcc type is built. clang's come from
# its front end, the same at every optimisation level, so its other types
# add nothing to build-asan/ but time: Debug differs only by not defining
# NDEBUG, and engine/ and bindings/ hold no assert (lint.layers checks it);
# the hardening flags set -O2 in every type, so -D_FORTIFY_SOURCE always
# has the optimisation it needs (gcc Debug would show the warning if not).
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
