#!/usr/bin/env bash
# A private PostgreSQL cluster for a test run or a benchmark (scripts/test.sh, bench/programme.sh):
#
#   scripts/pg-cluster.sh start DIR [PORT]   # initdb in DIR/data, start on 127.0.0.1:PORT (a free port when
#                                            # omitted); prints its URL, postgres://postgres@127.0.0.1:PORT/postgres
#   scripts/pg-cluster.sh stop DIR           # stop it (immediately) and remove DIR
#   scripts/pg-cluster.sh available          # exit 0 when PostgreSQL's server binaries are installed
#
# Trust authentication on loopback only; the socket stays in DIR; fsync off (test data). PostgreSQL refuses
# to run as root: as root, initdb and pg_ctl run as the `postgres` user (DIR is handed to it). On failure
# `start` exits 1 and the logs are in DIR/initdb.log and DIR/server.log.
set -euo pipefail

pg_bin() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1; }
as_pg() { if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
usage() { sed -n '2,7p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }

cmd="${1:-}"
case "$cmd" in
  available)
    [ -n "$(pg_bin)" ] && [ -x "$(pg_bin)/initdb" ]
    ;;
  start)
    dir="${2:-}"
    [ -n "$dir" ] || usage
    port="${3:-}"
    if [ -z "$port" ]; then
      port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
    fi
    bin="$(pg_bin)"
    if [ -z "$bin" ] || [ ! -x "$bin/initdb" ]; then
      echo "scripts/pg-cluster.sh: no PostgreSQL server binaries (sudo apt-get install -y postgresql)" >&2
      exit 1
    fi
    mkdir -p "$dir"
    [ "$(id -u)" -eq 0 ] && chown postgres "$dir"
    if as_pg "$bin/initdb" -D "$dir/data" -A trust -U postgres >"$dir/initdb.log" 2>&1 \
      && as_pg "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
           -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=300" \
           start >/dev/null; then
      echo "postgres://postgres@127.0.0.1:$port/postgres"
    else
      echo "scripts/pg-cluster.sh: the cluster in $dir did not start (see $dir/*.log)" >&2
      exit 1
    fi
    ;;
  stop)
    dir="${2:-}"
    [ -n "$dir" ] || usage
    if [ -d "$dir" ]; then
      as_pg "$(pg_bin)/pg_ctl" -D "$dir/data" -m immediate stop >/dev/null 2>&1 || true
      rm -rf "$dir"
    fi
    ;;
  *)
    usage
    ;;
esac
