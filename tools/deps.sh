#!/usr/bin/env bash
# Installs the Debian 12 packages salesengine needs to build, test and run
# its demo, skipping the ones already installed. Needs root (or sudo).
set -euo pipefail
packages=(
  cmake make gcc pkg-config
  liblua5.4-dev lua5.4 lua-cjson-dev
  libcurl4-openssl-dev libpq-dev libyajl-dev libmimalloc-dev libicu-dev
  postgresql postgresql-client
  python3 curl
  libcmocka-dev lua-busted lua-check cppcheck
  clang libclang-rt-dev clang-tidy valgrind openssl
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "tools/deps.sh: installing ${missing[*]}"
sudo=
[ "$(id -u)" = 0 ] || sudo=sudo
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
