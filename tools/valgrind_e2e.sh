#!/usr/bin/env bash
# valgrind memcheck on the end-to-end sales pipeline: runs scripts/pipeline.lua
# under `valgrind --error-exitcode=1 --leak-check=full` against a throwaway
# PostgreSQL cluster and the fixture API, through the paths that matter: a
# first load (with rejects and repeated keys), a re-run (updates), an API
# that keeps failing (retries, then exit 3) and an unreachable database
# (exit 4). Fails if valgrind reports an invalid access, a use of
# uninitialised memory or a definite/possible leak in any run.
#   tools/valgrind_e2e.sh [BUILD_DIR]      (a build WITHOUT -DSE_SANITIZE)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
build=${1:-build}
bin=$build/salesengine
[ -x "$bin" ] || { echo "valgrind_e2e.sh: $bin not built" >&2; exit 2; }
command -v valgrind >/dev/null || { echo "valgrind_e2e.sh: valgrind not found (apt-get install valgrind)" >&2; exit 2; }
if nm -D "$bin" 2>/dev/null | grep -q __asan_init; then
  echo "valgrind_e2e.sh: $bin is built with ASan; use a build without -DSE_SANITIZE" >&2
  exit 2
fi

work=$(mktemp -d /tmp/se-valgrind.XXXXXX)
api_pid=
cleanup() {
  [ -n "$api_pid" ] && kill "$api_pid" 2>/dev/null || true
  tests/lib/pg_cluster.sh stop "$work/pg" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

tests/lib/pg_cluster.sh start "$work/pg" >/dev/null
# shellcheck disable=SC1091
. "$work/pg/env"
mkdir -p "$work/api"
tools/python3 - "$work/api/sales.json" <<'PY'
import json, sys
items = []
for i in range(1, 1501):
    items.append({"id": "S%d" % i if i % 7 else 900000 + i, "date": "2026-01-%02dT10:00:00+02:00" % (1 + i % 28),
                  "amount_usd": "%d.%02d" % (i * 3, i % 100) if i % 2 else i * 3, "region": " emea "})
for i in range(10, 1501, 10):
    items.append({"id": "S%d" % i if i % 7 else 900000 + i, "date": "2026-02-01", "amount_usd": "1.5",
                  "region": "apac"})
items += [{"id": "BAD1", "date": "2026-13-45", "amount_usd": "1", "region": "x"},
          {"id": "BAD2", "date": "2026-01-01", "amount_usd": "99999999999999", "region": "x"}]
json.dump({"sales": items}, open(sys.argv[1], "w"))
PY
tools/python3 tests/fixtures/api_server.py --root "$work/api" --port-file "$work/api.port" >"$work/api.log" 2>&1 &
api_pid=$!
for _ in $(seq 100); do [ -s "$work/api.port" ] && break; sleep 0.05; done
url="http://127.0.0.1:$(cat "$work/api.port")"

# --soname-synonyms: memcheck replaces mimalloc's malloc (linked in as the process's malloc) as it
# would glibc's, so every block is tracked.
vg=(valgrind --quiet --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite,possible
    --soname-synonyms=somalloc=libmimalloc.so.2
    --show-leak-kinds=definite,possible --track-origins=yes --num-callers=30
    --suppressions="$root/tools/valgrind.supp")
failed=0
# run NAME EXPECTED_EXIT URL DSN
run() {
  local name=$1 want=$2
  local start=$SECONDS rc=0
  SALES_API_URL=$3 WAREHOUSE_DSN=$4 SALES_RETRY_DELAY=0.05 SALES_MAX_REJECTS=5 \
    "${vg[@]}" --log-file="$work/$name.vg" "$bin" scripts/pipeline.lua >"$work/$name.out" 2>&1 || rc=$?
  if [ "$rc" = 99 ] || [ -s "$work/$name.vg" ]; then
    echo "valgrind_e2e: $name: valgrind found errors:"; cat "$work/$name.vg"; failed=1
  elif [ "$rc" != "$want" ]; then
    echo "valgrind_e2e: $name: exit $rc, expected $want:"; tail -20 "$work/$name.out"; failed=1
  else
    echo "valgrind_e2e: $name: clean (exit $rc, $((SECONDS - start)) s)"
  fi
}
run first-load 0 "$url/sales.json" "$SE_PG_DSN"
run re-run 0 "$url/sales.json" "$SE_PG_DSN"
run api-down 3 "$url/sales.json?status=503" "$SE_PG_DSN"
run db-unreachable 4 "$url/sales.json" "host=127.0.0.1 port=1 dbname=x user=x connect_timeout=2"
rows=$(psql -XAtq -d "$SE_PG_DSN" -c "SELECT count(*) FROM fact_sales")
[ "$rows" = 1500 ] || { echo "valgrind_e2e: fact_sales has $rows rows, expected 1500"; failed=1; }
exit $failed
