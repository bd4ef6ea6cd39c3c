#!/usr/bin/env bash
# Fetch throughput over loopback: salesengine.http against the curl command
# line tool, fetching the same pages from the same local server
# (tests/fixtures/api_server.py). Prints pages/s and MB/s per client.
#
#   bench/http_bench.sh [BUILD_DIR]     (default: build)
#   SMALL=2000 LARGE=200 CONCURRENCY=4 bench/http_bench.sh
#
# Small pages (~2 KB) measure per-request overhead; large pages (~1 MB)
# measure bytes/s. Each client fetches each set with keep-alive, once
# sequentially and once with CONCURRENCY transfers in flight (salesengine:
# http.fetch_all; curl: --parallel). The server is single-process Python,
# so absolute figures are bounded by it; the comparison is what matters.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build}
BIN=$BUILD/salesengine
SMALL=${SMALL:-2000}
LARGE=${LARGE:-200}
CONCURRENCY=${CONCURRENCY:-4}
[ -x "$BIN" ] || { echo "no $BIN: build first (tools/build.sh)" >&2; exit 2; }

work=$(mktemp -d /tmp/se-bench.XXXXXX)
server_pid=
cleanup() {
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

tools/python3 bench/http/make_pages.py "$work" small "$SMALL" 2048
tools/python3 bench/http/make_pages.py "$work" large "$LARGE" 1048576
tools/python3 tests/fixtures/api_server.py --root "$work" --port-file "$work/port" >/dev/null 2>&1 &
server_pid=$!
for _ in $(seq 100); do [ -s "$work/port" ] && break; sleep 0.05; done
base="http://127.0.0.1:$(cat "$work/port")"

now() { date +%s.%N; }

# Prints "pages bytes seconds" for curl fetching every URL of a list file.
curl_fetch() { # list mode
  local cfg=$work/curl.cfg t0 t1 bytes
  : >"$cfg"
  while read -r url; do printf 'url = "%s"\noutput = "/dev/null"\n' "$url" >>"$cfg"; done <"$1"
  local extra=()
  [ "$2" = concurrent ] && extra=(--parallel --parallel-max "$CONCURRENCY")
  t0=$(now)
  bytes=$(curl -sS --no-progress-meter --fail "${extra[@]}" -w '%{size_download}\n' -K "$cfg" | awk '{s+=$1} END {print s}')
  t1=$(now)
  echo "$(wc -l <"$1") $bytes $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.6f", b - a }')"
}

report() { # label "pages bytes seconds"
  read -r pages bytes secs <<<"$2"
  awk -v l="$1" -v p="$pages" -v b="$bytes" -v s="$secs" \
    'BEGIN { printf "%-34s %6d pages %9.1f MB %7.3f s %9.1f pages/s %8.1f MB/s\n", l, p, b/1e6, s, p/s, b/1e6/s }'
}

for set in small large; do
  n=$([ $set = small ] && echo "$SMALL" || echo "$LARGE")
  list=$work/$set.urls
  for i in $(seq 0 $((n - 1))); do echo "$base/${set}_$i.json"; done >"$list"
  "$BIN" bench/http/fetch.lua "$list" sequential >/dev/null # warm the page cache
  echo "== $set pages ($n) =="
  report "salesengine http.get (sequential)" "$("$BIN" bench/http/fetch.lua "$list" sequential)"
  report "curl CLI (sequential)" "$(curl_fetch "$list" sequential)"
  report "salesengine fetch_all (x$CONCURRENCY)" "$("$BIN" bench/http/fetch.lua "$list" concurrent "$CONCURRENCY")"
  report "curl CLI --parallel (x$CONCURRENCY)" "$(curl_fetch "$list" concurrent)"
done
