#!/usr/bin/env bash
# The main job on an embedded default, from a fresh Debian 12 machine:
# installs what is missing, builds, starts a throwaway PostgreSQL cluster and
# the bundled sample partner API on loopback, runs scripts/pipeline.lua
# against them twice (the second run shows the load is idempotent), prints
# fact_sales, and cleans everything up.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/deps.sh
tools/build.sh >/dev/null

work=$(mktemp -d /tmp/salesengine-demo.XXXXXX)
api_pid=
cleanup() {
  [ -n "$api_pid" ] && kill "$api_pid" 2>/dev/null || true
  tests/lib/pg_cluster.sh stop "$work/pg" || true
  rm -rf "$work"
}
trap cleanup EXIT INT TERM

tests/lib/pg_cluster.sh start "$work/pg"
set -a
. "$work/pg/env"
set +a
tools/python3 tests/fixtures/api_server.py --root examples/sample_api --port-file "$work/api.port" \
  >"$work/api.log" 2>&1 &
api_pid=$!
for _ in $(seq 100); do [ -s "$work/api.port" ] && break; sleep 0.1; done
export SALES_API_URL="http://127.0.0.1:$(cat "$work/api.port")/sales.json"
export WAREHOUSE_DSN="$SE_PG_DSN"

echo "== salesengine scripts/pipeline.lua  (API $SALES_API_URL)"
build/salesengine scripts/pipeline.lua
echo "== again: the upsert is idempotent"
build/salesengine scripts/pipeline.lua
echo "== fact_sales"
psql -X -d "$WAREHOUSE_DSN" -c \
  "SELECT sale_id, sale_date, revenue, region FROM fact_sales ORDER BY sale_id" \
  -c "SELECT count(*) AS rows, sum(revenue) AS total_revenue FROM fact_sales"
