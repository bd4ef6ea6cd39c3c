#!/usr/bin/env bash
# Scale-out benchmark (issue 14): the sales job (scripts/pipeline.lua, paged with
# SALES_PAGE_SIZE=10000) as one process and as 2 partitions (--partition 0/2 and 1/2 at once),
# into one PostgreSQL and, when the shared Citus build starts, into Citus with 2 workers.
#
#   bench/scale.sh [BUILD_DIR]          (default BUILD_DIR: build)
#   N=100000 ROUNDS=1 bench/scale.sh    a quick look
#
# Data and serving as bench/run.sh: bench/pipeline/gen.py's N records (cached under
# $BENCH_DATA), pages of 10,000 served by nginx as /N/v0/sales?page=K. Each run loads a fresh
# fact_sales (scripts/schema.sql); each round runs one process, then 2 partitions, and checks
# that both leave the same table (count and md5 of every row). Per run: wall seconds, rows/s
# (records/s: the N records extracted / wall), the salesengine processes' CPU, each server's CPU
# (bench/pipeline/measure.py). Results: one JSON line per run in /tmp/se-scale-last.jsonl.
# Environment: N (default 1000000), ROUNDS (default 2), BENCH_DATA, CITUS_SH (default
# ../shared/citus/citus.sh beside the project), TARGETS (subset of "pg citus").
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
BIN=$root/${1:-build}/salesengine
N=${N:-1000000}
ROUNDS=${ROUNDS:-2}
BENCH_DATA=${BENCH_DATA:-/tmp/se-bench-data}
CITUS_SH=${CITUS_SH:-$root/../shared/citus/citus.sh}
TARGETS=${TARGETS:-pg citus}
[ -x "$BIN" ] || { echo "no $BIN: build first" >&2; exit 2; }
command -v nginx >/dev/null || PATH=$PATH:/usr/sbin

work=$(mktemp -d /tmp/se-scale.XXXXXX)
chmod 755 "$work"
nginx_pid=
cleanup() {
  [ -n "$nginx_pid" ] && kill "$nginx_pid" 2>/dev/null && wait "$nginx_pid" 2>/dev/null
  tests/lib/pg_cluster.sh stop "$work/pg" >/dev/null 2>&1 || true
  if [ -d "$work/citus" ]; then "$CITUS_SH" stop "$work/citus" >/dev/null 2>&1 || true; fi
  rm -rf "$work"
}
trap cleanup EXIT INT TERM

data=$BENCH_DATA/$N-$(sha1sum bench/pipeline/gen.py | cut -c1-10)
[ -s "$data/expected" ] || tools/python3 bench/pipeline/gen.py "$data" "$N"
chmod -R a+rX "$BENCH_DATA"
read -r _ rows pages <"$data/expected"
free_port() { tools/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

port=$(free_port)
mkdir -p "$work/nginx" "$work/www"
ln -sfn "$data" "$work/www/$N"
. bench/nginx.sh
start_nginx "$work" "$port"
for _ in $(seq 50); do curl -sf -o /dev/null "http://127.0.0.1:$port/$N/v0/sales?page=1" && break; sleep 0.1; done
api="http://127.0.0.1:$port/$N/v0/sales"

results=$work/results.jsonl
: >"$results"

# Servers: name, DSN of the database loaded, data directories whose CPU is measured.
declare -A dsn pgdata_of workers_of
if [[ " $TARGETS " == *" pg "* ]]; then
  tests/lib/pg_cluster.sh start "$work/pg" >/dev/null
  # shellcheck disable=SC1091
  . "$work/pg/env"
  export PGOPTIONS="-c client_min_messages=warning"
  dsn[pg]="host=$PGHOST port=$PGPORT user=$PGUSER dbname=postgres"
  pgdata_of[pg]=$(cat "$work/pg/cluster")/data
  workers_of[pg]=""
fi
if [[ " $TARGETS " == *" citus "* ]]; then
  cport=$(free_port)
  if uri=$("$CITUS_SH" start "$work/citus" "$cport" 2 2>"$work/citus.err"); then
    dsn[citus]=$uri
    pgdata_of[citus]=$work/citus/node0
    workers_of[citus]="$work/citus/node1 $work/citus/node2"
  else
    echo "citus: not measured: citus.sh start failed: $(grep -h FATAL "$work"/citus/node*/log 2>/dev/null | head -1)" \
      "$(head -c 300 "$work/citus.err")"
  fi
fi

# The fresh table of a target: plain, or distributed by sale_id on Citus.
fresh_table() {
  psql -XAtq -v ON_ERROR_STOP=1 -d "${dsn[$1]}" -c "DROP TABLE IF EXISTS fact_sales, etl_rejects" >/dev/null
  psql -XAtq -v ON_ERROR_STOP=1 -d "${dsn[$1]}" -f scripts/schema.sql >/dev/null
  if [ "$1" = citus ]; then
    psql -XAtq -v ON_ERROR_STOP=1 -d "${dsn[$1]}" -c "SELECT create_distributed_table('fact_sales', 'sale_id')" >/dev/null
  fi
  psql -XAtq -d "${dsn[$1]}" -c "CHECKPOINT" >/dev/null
}
digest() {
  psql -XAtq -d "${dsn[$1]}" -c "SELECT count(*) || ' ' || md5(string_agg(sale_id || '|' || sale_date || '|' ||
    revenue || '|' || region, ',' ORDER BY sale_id)) FROM fact_sales"
}
cpu_of() { # total CPU seconds of the servers under the data directories given (0 for none)
  tools/python3 - "$@" <<'PY'
import sys
sys.path.insert(0, "bench/pipeline")
from measure import server_cpu
print(sum(server_cpu(d) for d in sys.argv[1:]))
PY
}
run() { # run TARGET SHAPE ROUND
  local target=$1 shape=$2 round=$3 w0 w1
  fresh_table "$target"
  local env=(env SALES_API_URL="$api" SALES_PAGE_SIZE=10000 WAREHOUSE_DSN="${dsn[$target]}")
  local cmd
  if [ "$shape" = one ]; then
    cmd=("${env[@]}" "$BIN" --quiet scripts/pipeline.lua)
  else
    # shellcheck disable=SC2016 # expanded by the inner sh
    cmd=(sh -c '"$@" --partition 0/2 scripts/pipeline.lua & a=$!; "$@" --partition 1/2 scripts/pipeline.lua &
      b=$!; wait $a && wait $b' sh "${env[@]}" "$BIN" --quiet)
  fi
  # shellcheck disable=SC2086
  w0=$(cpu_of ${workers_of[$target]})
  python3 bench/pipeline/measure.py "$results" \
    "{\"target\":\"$target\",\"shape\":\"$shape\",\"round\":$round,\"n\":$N}" "${pgdata_of[$target]}" \
    "$work/nginx/nginx.pid" -- "${cmd[@]}"
  # shellcheck disable=SC2086
  w1=$(cpu_of ${workers_of[$target]})
  echo "{\"target\":\"$target\",\"shape\":\"$shape\",\"round\":$round,\"workers_cpu\":$(python3 -c "print($w1 - $w0)")}" \
    >>"$work/workers.jsonl"
  digest "$target" >"$work/digest.$target.$shape"
}

echo "nproc $(nproc); load before: $(cut -d' ' -f1-3 /proc/loadavg); $N records, $rows rows, $pages pages"
for round in $(seq "$ROUNDS"); do
  for target in "${!dsn[@]}"; do
    for shape in one two; do run "$target" "$shape" "$round"; done
    cmp -s "$work/digest.$target.one" "$work/digest.$target.two" ||
      { echo "MISMATCH on $target: $(cat "$work/digest.$target.one") vs $(cat "$work/digest.$target.two")" >&2; exit 1; }
    echo "   $target: one process and 2 partitions leave the same table: $(cat "$work/digest.$target.one")"
  done
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
touch "$work/workers.jsonl"
python3 - "$results" "$work/workers.jsonl" "$N" <<'PY'
import json, sys, statistics
rows = [json.loads(l) for l in open(sys.argv[1])]
workers = {(r["target"], r["shape"], r["round"]): r["workers_cpu"] for r in map(json.loads, open(sys.argv[2]))}
n = int(sys.argv[3])
print("%-7s %-12s %8s %10s %12s %12s %12s" % ("target", "shape", "wall s", "records/s", "engine cpu", "server cpu",
                                            "workers cpu"))
for target in sorted({r["target"] for r in rows}):
    for shape in ("one", "two"):
        rs = [r for r in rows if r["target"] == target and r["shape"] == shape]
        if not rs:
            continue
        wall = statistics.median(r["wall"] for r in rs)
        print("%-7s %-12s %8.2f %10.0f %12.2f %12.2f %12.2f" % (
            target, "1 process" if shape == "one" else "2 partitions", wall, n / wall,
            statistics.median(r["cpu"] for r in rs), statistics.median(r["server_cpu"] for r in rs),
            statistics.median(workers[(target, shape, r["round"])] for r in rs)))
ratios = {}
for r in rows:
    ratios.setdefault((r["target"], r["round"]), {})[r["shape"]] = r["wall"]
for (target, rnd), w in sorted(ratios.items()):
    if "one" in w and "two" in w:
        print("%s round %d: 2 partitions / 1 process wall = %.2f" % (target, rnd, w["two"] / w["one"]))
PY
cp "$results" /tmp/se-scale-last.jsonl
