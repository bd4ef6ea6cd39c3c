#!/usr/bin/env bash
# PostgreSQL load throughput: conn:upsert (COPY -> staging -> INSERT ... ON
# CONFLICT, in batches) against psql's \copy of the same rows into a staging
# table plus the same INSERT ... ON CONFLICT, measured in the same run on a
# throwaway cluster. Phases: fresh insert, every row updated, unchanged
# re-run (skip_unchanged). Prints seconds, rows/s and engine/psql ratios.
#
#   bench/pg_bench.sh [BUILD_DIR]          (default: build)
#   ROWS=1000000 BATCH=10000 REPEAT=2 bench/pg_bench.sh build
#
# Each phase starts from the same (vacuumed, checkpointed) table for both
# loaders and runs REPEAT times; the best time of each counts, which keeps
# a busy machine's noise out of the ratio. Both loaders must leave the same
# table (checked).
#
# Build without sanitizers for meaningful figures (tools/build.sh does).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build}
BIN=$BUILD/salesengine
ROWS=${ROWS:-1000000}
BATCH=${BATCH:-10000}
REPEAT=${REPEAT:-2}
[ -x "$BIN" ] || { echo "no $BIN: build first (tools/build.sh)" >&2; exit 2; }

work=$(mktemp -d /tmp/se-pgbench.XXXXXX)
chmod 755 "$work"
cleanup() {
  tests/lib/pg_cluster.sh stop "$work/cluster" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

tests/lib/pg_cluster.sh start "$work/cluster" >/dev/null
# shellcheck disable=SC1091
. "$work/cluster/env"
"$BIN" bench/pg/bench.lua "$SE_PG_DSN" "$work" "$ROWS" "$BATCH" "$REPEAT"
