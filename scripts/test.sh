#!/usr/bin/env bash
# Ferry's whole test suite, on a fresh Debian machine.
#
# Installs the real servers the tests start when they are missing — from Debian packages: Dovecot (IMAP),
# rclone (`rclone serve webdav`), OpenSSH (a per-test sshd for SFTP, ssh-keygen, sftp), PostgreSQL, Chromium
# and chromedriver (`chromium`, `chromium-driver`: the dashboard's browser stories); from
# PyPI: moto's S3 server (`moto[server]`) — as root; otherwise it prints the exact install command and stops.
# Then it starts a private PostgreSQL cluster for this run (a temp dir, a free loopback port; stopped and
# removed at the end) and exports its URL as FERRY_TEST_POSTGRES, runs the format and lint checks and every
# test of the workspace. Each test starts its own servers on free loopback ports in temp dirs; a test that
# needs PostgreSQL gets a database of its own in the cluster (`ferry_testkit::postgres`).
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
have() { command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ] || [ -x "/usr/bin/$1" ]; }
have dovecot || missing+=(dovecot-imapd)
have doveadm || missing+=(dovecot-core)
have rclone || missing+=(rclone)
have sshd || missing+=(openssh-server)
have ssh-keygen || missing+=(openssh-client)
have python3 || missing+=(python3)
pg_bin() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1; }
[ -n "$(pg_bin)" ] && [ -x "$(pg_bin)/initdb" ] || missing+=(postgresql)
have psql || missing+=(postgresql-client)
# The dashboard's stories run in a real headless Chromium over WebDriver (ferry_testkit::browser).
have chromium || missing+=(chromium)
have chromedriver || missing+=(chromium-driver)

if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -eq 0 ]; then
    echo "scripts/test.sh: installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    # policy-rc.d keeps the packages' own services from starting: the tests run their own instances.
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    echo "scripts/test.sh: missing ${missing[*]}. Install them with:" >&2
    echo "  sudo apt-get install -y ${missing[*]}" >&2
    exit 2
  fi
fi

# moto's S3 server (PyPI) for the S3 tests; the harness runs `${FERRY_PYTHON:-python3} -m moto.server`.
python="${FERRY_PYTHON:-python3}"
if ! "$python" -c 'import moto.server, flask' >/dev/null 2>&1; then
  echo "scripts/test.sh: installing moto[server] for $python"
  if ! "$python" -m pip --version >/dev/null 2>&1; then
    if [ "$(id -u)" -eq 0 ]; then
      apt-get update -qq
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends python3-pip >/dev/null
    else
      echo "scripts/test.sh: pip is missing. Install it with:  sudo apt-get install -y python3-pip" >&2
      exit 2
    fi
  fi
  # Debian's own python3 refuses system-wide pip installs (PEP 668) unless told otherwise.
  "$python" -m pip install -q 'moto[server]' 2>/dev/null \
    || "$python" -m pip install -q --break-system-packages 'moto[server]'
fi

# A private PostgreSQL cluster for this run (scripts/pg-cluster.sh: a temp dir, a free loopback port, trust
# on loopback only, as the `postgres` user when run as root), stopped and removed at the end.
if [ -z "${FERRY_TEST_POSTGRES:-}" ]; then
  pg_dir="$(mktemp -d "${TMPDIR:-/tmp}/ferry-pg.XXXXXX")"
  trap 'scripts/pg-cluster.sh stop "$pg_dir"' EXIT
  if pg_url="$(scripts/pg-cluster.sh start "$pg_dir")"; then
    export FERRY_TEST_POSTGRES="$pg_url"
    echo "== PostgreSQL for this run: $FERRY_TEST_POSTGRES"
  else
    echo "scripts/test.sh: the private PostgreSQL cluster did not start; PostgreSQL tests will be skipped" >&2
    cat "$pg_dir"/*.log >&2 || true
  fi
fi

# Servers' files go to tmpfs when there is one (faster, and no disk noise).
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

# Every step runs even when an earlier one failed, and `cargo test --no-fail-fast` runs every test binary
# even when one fails (issue 9, item 20: a failure in one crate once hid every crate after it). The
# summary at the end names each failed step, binary and test; the exit code is 1 when anything failed.
log="${FERRY_TEST_LOG:-target/test-run.log}"
mkdir -p "$(dirname "$log")"
failed_steps=()

echo "== cargo fmt --check"
cargo fmt --all --check || failed_steps+=("cargo fmt --all --check")
echo "== cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings \
  || failed_steps+=("cargo clippy --workspace --all-targets --locked -- -D warnings")
echo "== cargo test (output also in $log)"
set +e
cargo test --workspace --locked --no-fail-fast 2>&1 | tee "$log"
test_status=${PIPESTATUS[0]}
set -e
[ "$test_status" -eq 0 ] || failed_steps+=("cargo test --workspace --locked --no-fail-fast")

echo
echo "== summary"
scripts/test-summary.sh "$log"

if [ ${#failed_steps[@]} -gt 0 ]; then
  echo "FAILED steps:"
  printf '  %s\n' "${failed_steps[@]}"
  exit 1
fi
echo "all green: format, lints and every test binary"
