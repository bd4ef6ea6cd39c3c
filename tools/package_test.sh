#!/usr/bin/env bash
# The package, checked as a user would meet it (the test suite's package.deb):
#  1. a Release build with Debian's hardening flags (dpkg-buildflags, hardening=+all),
#     -DBUILD_TESTING=OFF -DSE_WERROR=ON; `cmake --install` into a prefix; `cpack -G DEB`;
#  2. lintian shows no error; the Depends (dpkg-shlibdeps) and Recommends name
#     exactly the packages `tools/deps.sh --runtime` installs;
#  3. `apt-get install ./salesengine_*.deb`; the manual page renders without
#     warnings; systemd-analyze verify accepts examples/deploy's units;
#  4. the sales pipeline, copied from /usr/share/doc/salesengine/scripts as
#     examples/deploy lays it out, runs with /usr/bin/salesengine from another
#     directory against a throwaway cluster and the sample API, its DSN from a
#     credentials directory, and writes a metrics file promtool accepts;
#  5. `apt-get remove` takes it away again (also when a step fails).
#   tools/package_test.sh WORK_DIR     (as root; refuses when salesengine is installed already)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
out=${1:?usage: tools/package_test.sh WORK_DIR}
say() { echo "package_test: $*"; }
die() { echo "package_test: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "needs root (apt-get install)"
if dpkg-query -W -f='${Status}' salesengine 2>/dev/null | grep -q "install ok installed"; then
  die "salesengine is installed on this machine; this test installs and removes its own build: remove it first"
fi

rm -rf "$out"
mkdir -p "$out"
build=$out/build
eval "$(DEB_BUILD_MAINT_OPTIONS=hardening=+all dpkg-buildflags --export=sh)"
CFLAGS="$CFLAGS $CPPFLAGS" LDFLAGS="$LDFLAGS" cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release \
  -DBUILD_TESTING=OFF -DSE_WERROR=ON >"$out/configure.log"
cmake --build "$build" -j2 >"$out/build.log" 2>&1 || { cat "$out/build.log"; die "build failed"; }
(cd "$build" && cpack -G DEB >"$out/cpack.log" 2>&1) || { cat "$out/cpack.log"; die "cpack failed"; }
deb=$(ls "$build"/salesengine_*.deb)
say "built $(basename "$deb")"

# cmake --install lays out the binary, the manual page and the documentation
cmake --install "$build" --prefix "$out/prefix" >/dev/null
for f in bin/salesengine share/man/man1/salesengine.1 share/doc/salesengine/README.md \
  share/doc/salesengine/docs/lua-api.md share/doc/salesengine/scripts/pipeline.lua \
  share/doc/salesengine/examples/deploy/salesengine-sales.service; do
  [ -f "$out/prefix/$f" ] || die "cmake --install did not install $f"
done

# lintian: errors fail; the rest is shown
lintian "$deb" 2>/dev/null | tee "$out/lintian.txt" || true
! grep -q '^E:' "$out/lintian.txt" || die "lintian reports errors"

# Depends from the shared libraries, Recommends by hand: together, deps.sh --runtime
depends=$(dpkg-deb -f "$deb" Depends)
say "Depends: $depends"
names() { tr ',' '\n' | sed -E 's/^ *([^ (]+).*/\1/' | grep -v '^$' | sort; }
have=$( (echo "$depends"; echo ", $(dpkg-deb -f "$deb" Recommends)") | names)
want=$(tools/deps.sh --list-runtime | sort)
[ "$have" = "$want" ] || die "Depends + Recommends ($(echo $have)) differ from tools/deps.sh --runtime ($(echo $want))"
readelf -d "$build/salesengine" | grep -q 'Flags: NOW PIE' || die "the binary is not a PIE linked with -z relro -z now (hardening)"

api_pid=
cleanup() {
  [ -n "$api_pid" ] && kill "$api_pid" 2>/dev/null || true
  "$root/tests/lib/pg_cluster.sh" stop "$out/pg" >/dev/null 2>&1 || true
  DEBIAN_FRONTEND=noninteractive apt-get remove -y -qq salesengine >/dev/null 2>&1 || true
}
trap cleanup EXIT
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$deb" >"$out/apt.log" 2>&1 ||
  { cat "$out/apt.log"; die "apt-get install failed"; }
[ -x /usr/bin/salesengine ] || die "/usr/bin/salesengine is not installed"
say "installed: $(/usr/bin/salesengine --version)"

# the manual page: found by man, renders without a warning
warnings=$(LC_ALL=C.UTF-8 MANWIDTH=80 man --warnings salesengine 2>&1 >/dev/null)
[ -z "$warnings" ] || die "man salesengine: $warnings"

# the deploy example's units, against the installed binary and manual page
# (verify exits 0 on an unknown key or a bad value, and only prints them: any output fails)
units=(examples/deploy/salesengine-sales.service examples/deploy/salesengine-sales.timer)
verify=$(systemd-analyze verify "${units[@]}" 2>&1) || die "systemd-analyze verify failed: $verify"
[ -z "$verify" ] || die "systemd-analyze verify: $verify"
# the hardening: an exposure of at most 2.0 ("OK") out of 10
systemd-analyze security --offline=true --threshold=20 "${units[0]}" >"$out/security.txt" 2>&1 ||
  { cat "$out/security.txt"; die "systemd-analyze security: exposure above 2.0"; }
say "systemd-analyze verify: clean; $(grep -o 'Overall exposure level.*' "$out/security.txt")"

# the sales pipeline from the package, laid out as examples/deploy does, run from elsewhere
etc=$out/etc/salesengine/sales
mkdir -p "$etc" "$out/credentials" "$out/elsewhere"
cp /usr/share/doc/salesengine/scripts/* "$etc/"
tests/lib/pg_cluster.sh start "$out/pg" >/dev/null
# shellcheck disable=SC1091
. "$out/pg/env"
printf '%s\n' "$SE_PG_PASSWORD_DSN" >"$out/credentials/WAREHOUSE_DSN"
tools/python3 tests/fixtures/api_server.py --root examples/sample_api --port-file "$out/api.port" >"$out/api.log" 2>&1 &
api_pid=$!
for _ in $(seq 100); do [ -s "$out/api.port" ] && break; sleep 0.05; done
rc=0
(cd "$out/elsewhere" && env -u WAREHOUSE_DSN SALES_API_URL="http://127.0.0.1:$(cat "$out/api.port")/sales.json" \
  CREDENTIALS_DIRECTORY="$out/credentials" \
  /usr/bin/salesengine --metrics-file "$out/sales.prom" "$etc/pipeline.lua") >"$out/run.log" 2>&1 || rc=$?
[ "$rc" = 0 ] || { cat "$out/run.log"; die "the installed salesengine exited $rc"; }
! grep -qF "$SE_PG_PASSWORD" "$out/run.log" || die "the DSN's password appears in the log"
rows=$(psql -XAtq -d "$SE_PG_DSN" -c "SELECT count(*) FROM fact_sales")
[ "$rows" = 40 ] || die "fact_sales has $rows rows, expected 40"
promtool check metrics <"$out/sales.prom" || die "promtool check metrics rejects the metrics file"
grep -q '^salesengine_exit_code{pipeline="sales"} 0$' "$out/sales.prom" || die "no exit code 0 in the metrics"
say "the installed binary ran the sales pipeline: $rows rows, metrics accepted by promtool"

trap - EXIT
cleanup
[ ! -e /usr/bin/salesengine ] || die "apt-get remove left /usr/bin/salesengine"
say "removed"
