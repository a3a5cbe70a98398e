#!/usr/bin/env bash
# A throwaway PostgreSQL server for the test suite, started and stopped by
# CTest (the postgres fixture, tests/CMakeLists.txt) or by hand.
#
#   pg-test-cluster.sh start STATE_DIR   initdb in a new temporary directory,
#                                        start the server on 127.0.0.1 at a free
#                                        port (unix socket in that directory),
#                                        create a role with a random password and
#                                        its database, and write the URL to
#                                        STATE_DIR/url (mode 600)
#   pg-test-cluster.sh stop STATE_DIR    stop that server and remove its files
#
# PostgreSQL refuses to run as root, so as root the server runs as the
# `postgres` user. Nothing is fsynced (fsync=off): the data is thrown away.
# The database uses an ICU collation where the server has ICU, so the tests
# see an order of text that differs from byte order, as on most servers.
set -euo pipefail

usage() {
  echo "usage: $0 start|stop STATE_DIR" >&2
  exit 2
}
[[ $# -eq 2 ]] || usage
action=$1
state=$2

bindir=${LWDOCK_PG_BINDIR:-}
if [[ -z $bindir ]]; then
  for dir in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
    if [[ -x $dir/initdb ]]; then
      bindir=$dir
      break
    fi
  done
fi
if [[ -z $bindir && -n $(command -v initdb || true) ]]; then bindir=$(dirname "$(command -v initdb)"); fi

# Runs a command as the server's user: `postgres` when we are root.
as_server() {
  if [[ $(id -u) -eq 0 ]]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

stop() {
  cd /
  [[ -f $state/cluster ]] || return 0
  local cluster
  cluster=$(cat "$state/cluster")
  if [[ -d $cluster/data ]]; then
    as_server "$bindir/pg_ctl" -D "$cluster/data" -m immediate -w stop >/dev/null 2>&1 || true
  fi
  rm -rf -- "$cluster"
  rm -f -- "$state/cluster" "$state/url"
}

start() {
  cd /  # the server user may not be able to enter the caller's directory
  if [[ ${LWDOCK_TEST_NO_POSTGRES:-} == 1 ]]; then
    # The suites skip their PostgreSQL cases when they find no URL.
    stop
    echo "pg-test-cluster: LWDOCK_TEST_NO_POSTGRES=1: no server started"
    return 0
  fi
  if [[ -z $bindir || ! -x $bindir/initdb ]]; then
    echo "pg-test-cluster: no PostgreSQL server programs (initdb); install postgresql (scripts/install-deps.sh)" >&2
    exit 1
  fi
  mkdir -p "$state"
  stop  # a server a previous run left behind
  local cluster
  cluster=$(mktemp -d "${TMPDIR:-/tmp}/lwdock-pg.XXXXXX")
  echo "$cluster" >"$state/cluster"
  if [[ $(id -u) -eq 0 ]]; then chown postgres: "$cluster"; fi

  as_server "$bindir/initdb" -D "$cluster/data" --auth-local=trust --auth-host=scram-sha-256 \
    --username=postgres --encoding=UTF8 --no-locale >"$cluster/initdb.log" 2>&1 ||
    { cat "$cluster/initdb.log" >&2; echo "pg-test-cluster: initdb failed" >&2; exit 1; }

  # A free port: bind port 0 and take what the kernel gave. Another program
  # may take it before the server does; then start again with another.
  local port started=0
  for _ in 1 2 3 4 5; do
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    if as_server "$bindir/pg_ctl" -D "$cluster/data" -l "$cluster/server.log" -w -t 60 \
      -o "-c listen_addresses=127.0.0.1 -p $port -c unix_socket_directories=$cluster -c fsync=off \
          -c synchronous_commit=off -c full_page_writes=off -c max_connections=200" start >/dev/null 2>&1; then
      started=1
      break
    fi
  done
  if [[ $started -ne 1 ]]; then
    cat "$cluster/server.log" >&2 || true
    echo "pg-test-cluster: the server did not start" >&2
    exit 1
  fi

  local password
  password=$(python3 -c 'import secrets; print(secrets.token_hex(16))')
  local psql=("$bindir/psql" -X -q -v ON_ERROR_STOP=1 -h "$cluster" -p "$port" -U postgres -d postgres)
  as_server "${psql[@]}" -c "CREATE ROLE lwdock_test LOGIN CREATEDB PASSWORD '$password'" >/dev/null
  if ! as_server "${psql[@]}" -c "CREATE DATABASE lwdock_test OWNER lwdock_test TEMPLATE template0 \
      LOCALE_PROVIDER icu ICU_LOCALE 'en-US' LOCALE 'C'" >/dev/null 2>&1; then
    as_server "${psql[@]}" -c "CREATE DATABASE lwdock_test OWNER lwdock_test" >/dev/null
  fi
  (umask 077 && echo "postgresql://lwdock_test:$password@127.0.0.1:$port/lwdock_test" >"$state/url")
  echo "pg-test-cluster: PostgreSQL on 127.0.0.1:$port (data in $cluster)"
}

case $action in
  start) start ;;
  stop) stop ;;
  *) usage ;;
esac
