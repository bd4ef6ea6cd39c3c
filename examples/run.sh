#!/usr/bin/env bash
# Runs one example end to end on a throwaway PostgreSQL cluster and the
# examples' partner API (tests/fixtures/examples_api.py), shows what was
# loaded, and cleans up:
#   examples/run.sh inventory_link|orders_nested|readings_concurrent|incremental_sales
# incremental_sales runs twice against tests/fixtures/since_server.py, fed the
# bundled sample sales, and shows the pipeline's stored cursor in between.
set -euo pipefail
cd "$(dirname "$0")/.."
name=${1:-}
case "$name" in
  inventory_link) var=INVENTORY_API_URL; path="/inventory?total=230&size=50"; tables="inventory" ;;
  orders_nested) var=ORDERS_API_URL; path="/orders?total=120&size=40"; tables="orders order_lines" ;;
  readings_concurrent) var=READINGS_API_URL; path="/readings?total=1000&size=100&delay=0.2"; tables="readings" ;;
  incremental_sales) var=SALES_API_URL; path="/sales"; tables="fact_sales" ;;
  *) echo "usage: examples/run.sh inventory_link|orders_nested|readings_concurrent|incremental_sales" >&2; exit 2 ;;
esac
tools/build.sh >/dev/null
bin=${BUILD_DIR:-build}/salesengine

work=$(mktemp -d /tmp/salesengine-example.XXXXXX)
api_pid=
cleanup() {
  [ -n "$api_pid" ] && kill "$api_pid" 2>/dev/null || true
  tests/lib/pg_cluster.sh stop "$work/pg" >/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT INT TERM

tests/lib/pg_cluster.sh start "$work/pg" >/dev/null
set -a
. "$work/pg/env"
set +a
if [ "$name" = incremental_sales ]; then
  python3 -c 'import json, sys; json.dump(json.load(open(sys.argv[1]))["sales"], open(sys.argv[2], "w"))' \
    examples/sample_api/sales.json "$work/sales.json"
  python3 tests/fixtures/since_server.py --data "$work/sales.json" --port-file "$work/api.port" >"$work/api.log" 2>&1 &
else
  python3 tests/fixtures/examples_api.py --port-file "$work/api.port" >"$work/api.log" 2>&1 &
fi
api_pid=$!
for _ in $(seq 100); do [ -s "$work/api.port" ] && break; sleep 0.1; done
export "$var=http://127.0.0.1:$(cat "$work/api.port")$path"
export WAREHOUSE_DSN="$SE_PG_DSN"

echo "== salesengine examples/$name/pipeline.lua  ($var=${!var})"
"$bin" "examples/$name/pipeline.lua"
if [ "$name" = incremental_sales ]; then
  "$bin" state show sales
  echo "== again: only the window since the cursor (minus the lag) is fetched"
  "$bin" "examples/$name/pipeline.lua"
fi
for t in $tables; do
  echo "== $t (first rows)"
  psql -X -d "$WAREHOUSE_DSN" -c "SELECT * FROM $t LIMIT 5" -c "SELECT count(*) AS rows FROM $t"
done
