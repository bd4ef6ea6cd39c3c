#!/usr/bin/env bash
# Throwaway PostgreSQL clusters for tests, the demo and benchmarks.
#   pg_cluster.sh start DIR    initdb and start a server on a unix socket and a free
#                              127.0.0.1 port; writes DIR/env
# The cluster itself lives in a short /tmp/se-pg.* folder (DIR/cluster names it):
# the postgres user can always reach it, and socket paths stay under their limit.
#   pg_cluster.sh stop DIR     stop the server and delete DIR
#   pg_cluster.sh restart DIR  restart the server (same port)
#   pg_cluster.sh kill DIR     stop the server immediately (crash-like), keep DIR
#   pg_cluster.sh up DIR       start a stopped server again (same port)
# DIR/env holds shell assignments: PGHOST PGPORT PGUSER PGDATABASE SE_PG_DSN
# (superuser over the socket) and SE_PG_PASSWORD_DSN (password user over TCP).
# As root, the server runs as the postgres user (initdb refuses root).
set -euo pipefail

cmd=${1:?usage: pg_cluster.sh start|stop|restart|kill|up DIR}
dir=${2:?usage: pg_cluster.sh start|stop|restart|kill|up DIR}
bindir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
[ -x "$bindir/pg_ctl" ] || { echo "pg_cluster.sh: PostgreSQL server binaries not found (apt-get install postgresql)" >&2; exit 1; }

as_owner() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

python3=$(cd "$(dirname "$0")/../../tools" && pwd)/python3 # Debian's (tools/python3)
free_port() {
  "$python3" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

pg_ctl_quiet() {
  as_owner "$bindir/pg_ctl" -D "$pgdir/data" -l "$pgdir/server.log" -w -t 60 "$@" >/dev/null
}

stop_server() {
  if [ -f "$pgdir/data/postmaster.pid" ]; then
    as_owner "$bindir/pg_ctl" -D "$pgdir/data" -m "${1:-fast}" -w -t 60 stop >/dev/null 2>&1 || true
  fi
}

pgdir=
[ -f "$dir/cluster" ] && pgdir=$(cat "$dir/cluster")

case $cmd in
start)
  stop_server immediate
  [ -n "$pgdir" ] && rm -rf "$pgdir"
  rm -rf "$dir"
  mkdir -p "$dir"
  pgdir=$(mktemp -d /tmp/se-pg.XXXXXX)
  echo "$pgdir" >"$dir/cluster"
  chmod 755 "$pgdir"
  [ "$(id -u)" = 0 ] && chown postgres: "$pgdir"
  as_owner "$bindir/initdb" -D "$pgdir/data" -U postgres -A trust -E UTF8 --locale=C.UTF-8 >"$pgdir/initdb.log" 2>&1 ||
    { cat "$pgdir/initdb.log" >&2; exit 1; }
  port=$(free_port)
  cat >>"$pgdir/data/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$pgdir'
fsync = off
synchronous_commit = off
full_page_writes = off
max_connections = 100
shared_buffers = 128MB
max_wal_size = 2GB
log_min_messages = warning
CONF
  cat >"$pgdir/data/pg_hba.conf" <<HBA
local all all trust
host all se_secret 127.0.0.1/32 scram-sha-256
host all all 127.0.0.1/32 trust
HBA
  pg_ctl_quiet start || { cat "$pgdir/server.log" >&2; exit 1; }
  password=$("$python3" -c 'import secrets; print("pw-" + secrets.token_hex(8))')
  "$bindir/psql" -XAtq -h "$pgdir" -p "$port" -U postgres -d postgres \
    -c "CREATE ROLE se_secret LOGIN SUPERUSER PASSWORD '$password'" >/dev/null
  cat >"$dir/env" <<ENV
PGHOST=$pgdir
PGPORT=$port
PGUSER=postgres
PGDATABASE=postgres
SE_PG_DSN='host=$pgdir port=$port user=postgres dbname=postgres'
SE_PG_PASSWORD='$password'
SE_PG_PASSWORD_DSN='postgresql://se_secret:$password@127.0.0.1:$port/postgres'
ENV
  chmod a+r "$dir/env"
  echo "PostgreSQL up: socket $pgdir, port $port"
  ;;
stop)
  stop_server fast
  [ -n "$pgdir" ] && rm -rf "$pgdir"
  rm -rf "$dir"
  ;;
restart)
  pg_ctl_quiet -m fast restart
  ;;
kill)
  stop_server immediate
  ;;
up)
  pg_ctl_quiet start
  ;;
*)
  echo "pg_cluster.sh: unknown command '$cmd'" >&2
  exit 2
  ;;
esac
