#!/usr/bin/env bash
# The whole test suite, from a fresh Debian 12 machine: installs what is
# missing, then runs every test through ctest twice:
#   build/       gcc, optimised, Debian's hardening flags: C unit tests, busted
#                specs, integration tests against a throwaway PostgreSQL (but
#                the error paths' specs, label sanitized: tests/CMakeLists.txt),
#                lint (luacheck, cppcheck, clang-tidy, the manual page),
#                valgrind, the build type gcc warns differently in (build.matrix)
#                and the .deb built, linted, installed, run and removed
#                (package.deb)
#   build-asan/  clang with AddressSanitizer + UndefinedBehaviorSanitizer (and
#                the hardening flags), the Lua-side library embedded as text
#                (SE_LUA_BYTECODE=OFF; build/ embeds luac's bytecode): the same tests, plus the libFuzzer
#                harnesses for a bounded time; not lint, spec.stock (stock lua5.4
#                without the binary), integration.citus (the plain server's paths
#                in the binary) nor the runner's Lua flows (label flow:
#                tests/CMakeLists.txt), whose C paths the other specs take)
# and ends with one line: "N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/.."
tools/deps.sh || exit 1

passed=0
failed=0
# Runs ctest in build dir $1 (extra ctest arguments follow) and adds its counts.
# Three at a time on two cores: most integration tests wait (on the fixture
# API, on PostgreSQL, on injected stalls), and a third keeps the cores busy.
run_suite() {
  local dir=$1
  shift
  local log
  log=$(mktemp)
  ctest --test-dir "$dir" --output-on-failure -j3 "$@" 2>&1 | tee "$log"
  local line total bad
  line=$(grep -E '^[0-9]+% tests passed, [0-9]+ tests? failed out of [0-9]+' "$log" | tail -n 1)
  rm -f "$log"
  if [ -z "$line" ]; then
    echo "tools/test.sh: ctest in $dir printed no summary" >&2
    failed=$((failed + 1))
    return
  fi
  bad=$(sed -E 's/.* ([0-9]+) tests? failed out of ([0-9]+).*/\1/' <<<"$line")
  total=$(sed -E 's/.* failed out of ([0-9]+).*/\1/' <<<"$line")
  passed=$((passed + total - bad))
  failed=$((failed + bad))
}

# Both builds with Debian's hardening flags: the ASan build is also the
# build contract's clang build with optimisation (tools/build_matrix.sh).
eval "$(DEB_BUILD_MAINT_OPTIONS=hardening=+all dpkg-buildflags --export=sh)"
hardened=(-DCMAKE_C_FLAGS="$CFLAGS $CPPFLAGS" -DCMAKE_EXE_LINKER_FLAGS="$LDFLAGS")
unset CFLAGS CPPFLAGS LDFLAGS

# Prints a phase's title and how far into the run it starts.
phase() { echo "== $1 (at ${SECONDS} s)"; }

phase "gcc build (Debian's hardening flags, warnings are errors)"
if tools/build.sh -DSE_WERROR=ON "${hardened[@]}"; then
  phase "gcc build: tests"
  run_suite build -LE sanitized # see the header
else
  failed=$((failed + 1))
fi

phase "clang ASan+UBSan build with fuzzers, the Lua library as text (Debian's hardening flags, warnings are errors)"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
if CC=clang BUILD_DIR=build-asan tools/build.sh -DSE_SANITIZE=ON -DSE_FUZZ=ON -DSE_LUA_BYTECODE=OFF -DSE_WERROR=ON "${hardened[@]}"; then
  phase "clang ASan+UBSan build: tests"
  run_suite build-asan -LE "lint|stock|citus|flow" # see the header
else
  failed=$((failed + 1))
fi

phase "done"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
