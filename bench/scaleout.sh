#!/usr/bin/env bash
# Pass throughput with `ferry worker` processes on PostgreSQL against one `ferry serve` on SQLite, and how
# long a killed worker's passes take to run again (issue 12 §5): the one script to run.
#
# Installs `dovecot-imapd` when missing (as root), builds `ferry` and `ferry-bench` in release mode, starts
# a private PostgreSQL cluster when none is given (scripts/pg-cluster.sh: initdb in a temp dir, a free
# loopback port, trust on loopback; stopped and removed at the end), and runs `ferry-bench scaleout`.
# Arguments go to `ferry-bench scaleout`:
#
#   bench/scaleout.sh                         # 4 mailboxes × 4,000 messages, 4 slots, 1/2/4 workers, 3 runs
#   bench/scaleout.sh --quick                 # 4 mailboxes × 300 messages, 1 run
#   bench/scaleout.sh --runs 5 --json results.json --keep-logs /tmp/scaleout-logs
#   FERRY_TEST_POSTGRES=postgres://… bench/scaleout.sh   # an existing cluster (a fresh database per run)
#   bench/scaleout.sh --help
#
# See bench/README.md for what is measured and how to read it.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v dovecot >/dev/null 2>&1; then
  if [ "$(id -u)" -eq 0 ]; then
    echo "bench/scaleout.sh: installing dovecot-imapd" >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y dovecot-imapd >&2
  else
    echo "bench/scaleout.sh: Dovecot is missing: sudo apt-get install -y dovecot-imapd" >&2
    exit 1
  fi
fi
echo "bench/scaleout.sh: building ferry and ferry-bench (release)" >&2
cargo build --release -p ferry -p ferry-bench >&2
target_dir="$(cargo metadata --format-version 1 --no-deps | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')"

if [ -z "${FERRY_TEST_POSTGRES:-}" ] && scripts/pg-cluster.sh available; then
  pg_dir="$(mktemp -d "${TMPDIR:-/tmp}/ferry-bench-pg.XXXXXX")"
  trap 'scripts/pg-cluster.sh stop "$pg_dir"' EXIT
  if pg_url="$(scripts/pg-cluster.sh start "$pg_dir")"; then
    export FERRY_TEST_POSTGRES="$pg_url"
  else
    echo "bench/scaleout.sh: the private PostgreSQL cluster did not start: SQLite only" >&2
  fi
elif [ -z "${FERRY_TEST_POSTGRES:-}" ]; then
  echo "bench/scaleout.sh: no PostgreSQL server binaries (sudo apt-get install -y postgresql): SQLite only" >&2
fi
"${target_dir:-target}/release/ferry-bench" scaleout --ferry "${target_dir:-target}/release/ferry" "$@"
