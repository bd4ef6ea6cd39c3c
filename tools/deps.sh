#!/usr/bin/env bash
# Installs the Debian 12 packages salesengine needs, skipping the ones already
# installed. Needs root (or sudo).
#   tools/deps.sh              everything to build, test, package and run the demo
#   tools/deps.sh --runtime    only what running pipelines needs (a server that runs
#                              a built binary; the .deb's Depends and Recommends)
#   tools/deps.sh --list-runtime   print the runtime packages, one a line
set -euo pipefail
# lua-cjson is linked into the binary; ca-certificates for HTTPS.
runtime=(libc6 liblua5.4-0 libcurl4 libpq5 libyajl2 zlib1g libicu72 libmimalloc2.0 ca-certificates)
build=(
  cmake make gcc pkg-config
  liblua5.4-dev lua5.4 lua-cjson-dev
  libcurl4-openssl-dev libpq-dev libyajl-dev zlib1g-dev libmimalloc-dev libicu-dev
  postgresql postgresql-client
  python3 curl
  libcmocka-dev lua-busted lua-check cppcheck
  clang libclang-rt-dev clang-tidy valgrind openssl
  dpkg-dev file lintian man-db prometheus systemd
)
case ${1:-} in
--runtime) packages=("${runtime[@]}") ;;
--list-runtime) printf '%s\n' "${runtime[@]}"; exit 0 ;;
"") packages=("${runtime[@]}" "${build[@]}") ;;
*) echo "usage: tools/deps.sh [--runtime | --list-runtime]" >&2; exit 2 ;;
esac
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# The Citus 13.2 build the suite's integration.citus loads (../shared/citus) needs
# PostgreSQL 15.20 or later (it links have_createdb_privilege, which 15.18 lacks):
# an older postgresql-15 is upgraded from Debian's security updates.
if [ -z "${1:-}" ] && pg15=$(dpkg-query -W -f='${Version}' postgresql-15 2>/dev/null) &&
  dpkg --compare-versions "$pg15" lt 15.20; then
  missing+=(postgresql-15)
fi
[ ${#missing[@]} -eq 0 ] && exit 0
echo "tools/deps.sh: installing ${missing[*]}"
sudo=
[ "$(id -u)" = 0 ] || sudo=sudo
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
