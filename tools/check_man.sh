#!/usr/bin/env bash
# The manual page docs/salesengine.1 is clean and complete: `man -l` renders
# it without a warning, it names every option `salesengine --help` lists, and
# its version is the binary's.
#   tools/check_man.sh SALESENGINE_BINARY
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${1:?usage: tools/check_man.sh SALESENGINE_BINARY}
page=docs/salesengine.1
status=0
text=$(LC_ALL=C.UTF-8 MANWIDTH=80 man --warnings -l "$page" 2>/tmp/check_man.$$) || status=1
if [ -s /tmp/check_man.$$ ]; then
  echo "check_man: man -l $page warns:"; cat /tmp/check_man.$$; status=1
fi
rm -f /tmp/check_man.$$
for opt in $("$bin" --help | grep -oE '^  (-[a-z], )?--?[a-z-]+' | grep -oE -- '--?[a-z-]+$'); do
  grep -qE -- "(^| )${opt}( |$)" <<<"$text" || { echo "check_man: $page does not describe $opt"; status=1; }
done
version=$("$bin" --version | awk '{print $2}')
grep -q "^\.TH SALESENGINE 1 \"[^\"]*\" \"salesengine $version\"" "$page" ||
  { echo "check_man: $page is not for version $version"; status=1; }
[ $status -eq 0 ] && echo "check_man: $page clean, every option described, version $version"
exit $status
