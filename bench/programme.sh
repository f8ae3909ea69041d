#!/usr/bin/env bash
# The programme service at scale (issue 12 §5, issue 13's page budget): the one script to run.
#
# Builds `ferry` and `ferry-bench` in release mode, starts a private PostgreSQL cluster when none is given
# (scripts/pg-cluster.sh, as scripts/test.sh does: initdb in a temp dir, a free loopback port, trust on
# loopback, as the `postgres` user when run as root; stopped and removed at the end), and runs `ferry-bench programme`:
# `ferry serve` on SQLite and on PostgreSQL, timing a 20,000-mapping import, an event over all of them,
# its report, and the dashboard's mappings grid and project page with 10,000 mappings. Arguments go to
# `ferry-bench programme`:
#
#   bench/programme.sh                       # 20,000 / 10,000 mappings, 5 runs per store
#   bench/programme.sh --quick               # 2,000 / 1,000 mappings, 2 runs
#   bench/programme.sh --runs 3 --json results.json
#   FERRY_TEST_POSTGRES=postgres://… bench/programme.sh   # an existing cluster (a fresh database in it)
#   bench/programme.sh --help
#
# See bench/README.md for what is measured and how to read it.
set -euo pipefail
cd "$(dirname "$0")/.."
echo "bench/programme.sh: building ferry and ferry-bench (release)" >&2
cargo build --release -p ferry -p ferry-bench >&2
target_dir="$(cargo metadata --format-version 1 --no-deps | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')"

if [ -z "${FERRY_TEST_POSTGRES:-}" ] && scripts/pg-cluster.sh available; then
  pg_dir="$(mktemp -d "${TMPDIR:-/tmp}/ferry-bench-pg.XXXXXX")"
  trap 'scripts/pg-cluster.sh stop "$pg_dir"' EXIT
  if pg_url="$(scripts/pg-cluster.sh start "$pg_dir")"; then
    export FERRY_TEST_POSTGRES="$pg_url"
  else
    echo "bench/programme.sh: the private PostgreSQL cluster did not start: SQLite only" >&2
  fi
elif [ -z "${FERRY_TEST_POSTGRES:-}" ]; then
  echo "bench/programme.sh: no PostgreSQL server binaries (sudo apt-get install -y postgresql): SQLite only" >&2
fi
"${target_dir:-target}/release/ferry-bench" programme --ferry "${target_dir:-target}/release/ferry" "$@"
