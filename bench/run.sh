#!/usr/bin/env bash
# End-to-end benchmark (issue 6): partner API over loopback -> transform -> fact_sales.
#
#   bench/run.sh [BUILD_DIR]                 (default BUILD_DIR: build; build it Release/RelWithDebInfo)
#   N=100000 ROUNDS=1 bench/run.sh build     a quick run
#
# What it does, in one throwaway setup:
#  1. generates N sales records (bench/pipeline/gen.py; cached under $BENCH_DATA, default
#     /tmp/se-bench-data) and, for the smaller runs, SMALL records (default 100,000): pages of
#     10,000 records, one single-response body, and the rows pre-transformed for psql;
#  2. serves them with nginx (Debian's nginx-light, installed when missing) on a loopback port,
#     one worker, static pre-encoded files (its CPU time is reported in the results);
#  3. starts a throwaway PostgreSQL (tests/lib/pg_cluster.sh: fsync off, synchronous_commit off);
#  4. runs ROUNDS rounds (default 3), each tool on its own database, in rotating order:
#       (a) the floor: psql \copy of the pre-transformed rows into a temp staging table and one
#           INSERT ... SELECT DISTINCT ON ... ON CONFLICT DO UPDATE (bench/pipeline/floor.sql);
#       (b) salesengine bench/pipeline/pipeline.lua (paged API, scripts/transform.lua, etl runner,
#           skip_unchanged);
#       (b1) salesengine scripts/pipeline.lua itself on the one-body shape (all.json, the seed API's);
#       (c) the seed's Python pipeline (bench/pipeline/python_baseline.py) on the same one body,
#           at SMALL only;
#     scenarios: fresh (empty table), changed (every amount changed), same (nothing changed);
#     at N and at SMALL;
#  5. checks that (a) and (b) leave identical tables and that (b)'s "same" run rewrites no row
#     (n_tup_upd does not grow), and prints the medians; with DOC=1 (the default when N is
#     1,000,000) writes them into docs/performance.md between the bench markers.
# Environment: N, SMALL, ROUNDS, BENCH_DATA, DOC, SHAPE (b's paging: numbered | next; default numbered),
# TOOLS (a subset of "a b b_single c a_skip" for a quick look; the report needs them all),
# SCENARIOS (a subset of "fresh changed same").
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
BUILD=${1:-build}
BIN=$root/$BUILD/salesengine
N=${N:-1000000}
SMALL=${SMALL:-100000}
ROUNDS=${ROUNDS:-3}
SHAPE=${SHAPE:-numbered}
DOC=${DOC:-$([ "$N" = 1000000 ] && echo 1 || echo 0)}
BENCH_DATA=${BENCH_DATA:-/tmp/se-bench-data}
[ -x "$BIN" ] || { echo "no $BIN: build first (cmake -DCMAKE_BUILD_TYPE=Release)" >&2; exit 2; }
command -v nginx >/dev/null || PATH=$PATH:/usr/sbin
command -v nginx >/dev/null || apt-get install -y nginx-light >/dev/null || apt-get install -y nginx >/dev/null
# (c) runs on Debian's python3 with Debian's python3-requests and python3-psycopg2
PY=tools/python3 # Debian's python3 (tools/python3)
$PY -c 'import requests, psycopg2' 2>/dev/null || apt-get install -y python3-requests python3-psycopg2 >/dev/null

work=$(mktemp -d /tmp/se-bench.XXXXXX)
chmod 755 "$work"
nginx_pid=
cleanup() {
  [ -f "$work/results.jsonl.log" ] && cp "$work/results.jsonl.log" /tmp/se-bench-last.log
  [ -n "$nginx_pid" ] && kill "$nginx_pid" 2>/dev/null && wait "$nginx_pid" 2>/dev/null
  tests/lib/pg_cluster.sh stop "$work/pg" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT INT TERM

# 1. data, keyed by the generator's content and the size
gen_hash=$(sha1sum bench/pipeline/gen.py | cut -c1-10)
data_for() { echo "$BENCH_DATA/$1-$gen_hash"; }
for n in "$N" "$SMALL"; do
  d=$(data_for "$n")
  if [ ! -s "$d/expected" ]; then
    echo "generating $n records into $d ..."
    rm -rf "$d"
    $PY bench/pipeline/gen.py "$d" "$n"
  fi
  chmod -R a+rX "$BENCH_DATA"
done

# 2. nginx over both data sets: /N/v0/pages/p1.json, /N/v0/sales?page=1, /N/v0/all.json
port=$($PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
mkdir -p "$work/nginx" "$work/www"
for n in "$N" "$SMALL"; do ln -sfn "$(data_for "$n")" "$work/www/$n"; done
. bench/nginx.sh
start_nginx "$work" "$port"
for _ in $(seq 50); do curl -sf -o /dev/null "http://127.0.0.1:$port/$SMALL/v0/pages/p1.json" && break; sleep 0.1; done
curl -sf -o /dev/null "http://127.0.0.1:$port/$SMALL/v0/sales?page=1" || { echo "nginx did not come up" >&2; exit 1; }

# 3. PostgreSQL
tests/lib/pg_cluster.sh start "$work/pg" >/dev/null
# shellcheck disable=SC1091
. "$work/pg/env"
export PGHOST PGPORT PGUSER PGOPTIONS="-c client_min_messages=warning"
pgdata=$(cat "$work/pg/cluster")/data
for t in a b b_single c a_skip; do psql -XAtq -d postgres -c "CREATE DATABASE bench_$t" >/dev/null; done
dsn_of() { echo "host=$PGHOST port=$PGPORT user=$PGUSER dbname=bench_$1"; }
sql() { psql -XAtq -v ON_ERROR_STOP=1 -d "bench_$1" -c "$2"; }

results=$work/results.jsonl
: >"$results"
measure() { # measure TOOL N SCENARIO ROUND -- command...
  local labels="{\"tool\":\"$1\",\"n\":$2,\"scenario\":\"$3\",\"round\":$4}"
  shift 5
  local before after
  before=$(sql "${tool_db}" "SELECT coalesce(sum(n_tup_upd), 0) FROM pg_stat_user_tables WHERE relname = 'fact_sales'")
  $PY bench/pipeline/measure.py "$results" "$labels" "$pgdata" "$work/nginx/nginx.pid" -- "$@"
  after=$(sql "${tool_db}" "SELECT coalesce(sum(n_tup_upd), 0) FROM pg_stat_user_tables WHERE relname = 'fact_sales'")
  echo "{\"tool\":\"$tool\",\"n\":$n,\"scenario\":\"$scenario\",\"round\":$round,\"n_tup_upd\":$((after - before))}" \
    >>"$work/updates.jsonl"
}

# Runs one tool on one scenario (version v of the data) at size n.
run_tool() {
  local tool=$1 n=$2 scenario=$3 round=$4 v=$5 tool_db=$1
  local d
  d=$(data_for "$n")
  if [ "$scenario" = fresh ]; then
    sql "$tool_db" "DROP TABLE IF EXISTS fact_sales" >/dev/null
    sql "$tool_db" "$(cat scripts/schema.sql)" >/dev/null
  fi
  sql "$tool_db" "VACUUM ANALYZE" >/dev/null
  sql "$tool_db" "CHECKPOINT" >/dev/null
  case $tool in
  a) measure a "$n" "$scenario" "$round" -- sh -c 'exec psql -X -q -d "$1" -f bench/pipeline/floor.sql <"$2"' \
       sh "$(dsn_of a)" "$d/v$v/rows.tsv" ;;
  a_skip) measure a_skip "$n" "$scenario" "$round" -- sh -c 'exec psql -X -q -d "$1" -v where="$3" \
       -f bench/pipeline/floor.sql <"$2"' sh "$(dsn_of a_skip)" "$d/v$v/rows.tsv" \
       "WHERE t.revenue IS DISTINCT FROM EXCLUDED.revenue" ;;
  b) measure b "$n" "$scenario" "$round" -- env SALES_API_BASE="http://127.0.0.1:$port/$n/v$v" \
       WAREHOUSE_DSN="$(dsn_of b)" BENCH_SHAPE="$SHAPE" BENCH_PAGES="$(cut -d' ' -f3 "$d/expected")" \
       "$BIN" --quiet bench/pipeline/pipeline.lua ;;
  b_single) measure b_single "$n" "$scenario" "$round" -- env SALES_API_URL="http://127.0.0.1:$port/$n/v$v/all.json" \
       WAREHOUSE_DSN="$(dsn_of b_single)" "$BIN" --quiet scripts/pipeline.lua ;;
  c) measure c "$n" "$scenario" "$round" -- env SALES_API_URL="http://127.0.0.1:$port/$n/v$v/all.json" \
       WAREHOUSE_DSN="$(dsn_of c)" "$PY" bench/pipeline/python_baseline.py ;;
  esac
}

# The table's content, for comparing (a) and (b).
digest() {
  sql "$1" "SELECT count(*) || ' ' || md5(string_agg(sale_id || '|' || sale_date || '|' || revenue || '|' || region, ','
            ORDER BY sale_id)) FROM fact_sales"
}
check_same() { # check_same N SCENARIO: (b)'s and (b1)'s tables against (a)'s
  local da db tool
  da=$(digest a)
  for tool in b b_single; do
    case " $order " in *" $tool "*) ;; *) continue ;; esac
    db=$(digest $tool)
    if [ "$da" != "$db" ]; then
      echo "MISMATCH after $2 at $1: a=$da $tool=$db" >&2
      exit 1
    fi
  done
  echo "   tables of (a), (b) and (b1) identical after $2 at $1: $da (expected $(cut -d' ' -f2 "$(data_for "$1")/expected") rows)"
}

t_start=$(date +%s)
echo "load before the run: $(cut -d' ' -f1-3 /proc/loadavg)"
for round in $(seq "$ROUNDS"); do
  for n in "$N" "$SMALL"; do
    tools="a b b_single"
    [ "$n" = "$SMALL" ] && tools="a b b_single c"
    # rotate the order each round
    set -- $tools
    for _ in $(seq $(((round - 1) % $#))); do set -- "${@:2}" "$1"; done
    order="$*"
    [ "$n" = "$N" ] && order="$order a_skip"
    [ -n "${TOOLS:-}" ] && order=$(for t in $order; do case " $TOOLS " in *" $t "*) echo "$t" ;; esac; done)
    for scenario in ${SCENARIOS:-fresh changed same}; do
      v=0
      [ "$scenario" = fresh ] || v=1
      for tool in $order; do
        run_tool "$tool" "$n" "$scenario" "$round" "$v"
      done
      [ "$round" = 1 ] && check_same "$n" "$scenario"
    done
    [ "$N" = "$SMALL" ] && break
  done
done
echo "load after the run: $(cut -d' ' -f1-3 /proc/loadavg); bench took $(($(date +%s) - t_start)) s"

cp "$results" "${RESULTS_COPY:-/tmp/se-bench-last.jsonl}"
cp "$work/updates.jsonl" "${RESULTS_COPY:-/tmp/se-bench-last.jsonl}.updates"
[ -n "${TOOLS:-}${SCENARIOS:-}" ] && { $PY -c '
import json, sys
for line in open(sys.argv[1]):
    r = json.loads(line)
    print(r["tool"], r["n"], r["scenario"], r["round"], {k: v for k, v in r.items() if k not in ("tool", "n", "scenario", "round")})
' "$results"; exit 0; }
$PY bench/pipeline/report.py "$results" "$work/updates.jsonl" "$N" "$SMALL" \
  "$(echo "N=$N SMALL=$SMALL ROUNDS=$ROUNDS SHAPE=$SHAPE bench/run.sh $BUILD")" \
  "$([ "$DOC" = 1 ] && echo docs/performance.md)"
