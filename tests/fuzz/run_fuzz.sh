#!/usr/bin/env bash
# run_fuzz.sh HARNESS CORPUS_DIR SECONDS ARTIFACT_DIR
# Fuzzes a temporary copy of CORPUS_DIR (the committed seeds, crash
# reproducers included, are replayed first) for SECONDS seconds; the repo is
# never written to. A crash leaves its input in ARTIFACT_DIR and fails.
set -euo pipefail
harness=$1 corpus=$2 seconds=$3 artifacts=$4
[ -d "$corpus" ] || { echo "no seed corpus at $corpus" >&2; exit 1; }
work=$(mktemp -d /tmp/se-fuzz.XXXXXX)
trap 'rm -rf "$work"' EXIT
cp -r "$corpus" "$work/corpus"
mkdir -p "$artifacts"
"$harness" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=4096 \
  -artifact_prefix="$artifacts/" -print_final_stats=1 "$work/corpus"
