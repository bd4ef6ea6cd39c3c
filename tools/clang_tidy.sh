#!/usr/bin/env bash
# Runs clang-tidy (checks in .clang-tidy) over every C file of engine/ and
# bindings/ using BUILD_DIR/compile_commands.json (default: build; configure
# it first: cmake -S . -B build). Exits non-zero when clang-tidy reports
# anything, so it can gate CI.
#   tools/clang_tidy.sh [BUILD_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
[ -f "$build/compile_commands.json" ] || { echo "clang_tidy.sh: no $build/compile_commands.json (run cmake -S . -B $build)" >&2; exit 2; }
command -v clang-tidy >/dev/null || { echo "clang_tidy.sh: clang-tidy not found (apt-get install clang-tidy)" >&2; exit 2; }
# the embedded Lua C file is generated: make sure it exists for bindings' includes
cmake --build "$build" --target se_bindings >/dev/null
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# one clang-tidy per file, as many at a time as there are cores; a file's report
# in $work/<n>.txt, its failure as $work/<n>.failed
tidy_one() {
  local f=$1 report=$2
  local extra=(--extra-arg=-Wno-unknown-warning-option)
  # bindings: declare Lua's error functions noreturn for the analyzer (see the header)
  case $f in bindings/*) extra+=(--extra-arg=-include --extra-arg="$PWD/tools/clang_tidy_lua.h") ;; esac
  clang-tidy -p "$build" --quiet "${extra[@]}" "$f" >"$report.txt" 2>/dev/null || touch "$report.failed"
}
export -f tidy_one
export build
n=0
# shellcheck disable=SC2016 # $1 and $2 are bash -c's own arguments
for f in engine/*.c bindings/*.c; do
  n=$((n + 1))
  printf '%s\0%s\0' "$f" "$work/$n"
done | xargs -0 -n 2 -P "$(nproc)" bash -c 'tidy_one "$1" "$2"' _
status=0
ls "$work"/*.failed >/dev/null 2>&1 && status=1
out=$work/all
cat "$work"/*.txt >"$out"
if grep -qE '(warning|error):' "$out"; then
  grep -E '(warning|error):' "$out" | sort -u
  echo "clang_tidy.sh: $(grep -cE '(warning|error):' "$out") finding(s)" >&2
  exit 1
fi
[ $status -eq 0 ] || { cat "$out"; exit 1; }
echo "clang_tidy.sh: clean ($(ls engine/*.c bindings/*.c | wc -l) files)"
