#!/usr/bin/env bash
# Ferry's whole test suite, on a fresh Debian machine.
#
# Installs the real servers the tests start (Dovecot for IMAP) from Debian packages when they are missing
# (as root; otherwise it prints the exact install command and stops), then runs the format and lint checks
# and every test of the workspace. Each test starts its own servers on free loopback ports in temp dirs.
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
have() { command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ] || [ -x "/usr/bin/$1" ]; }
have dovecot || missing+=(dovecot-imapd)
have doveadm || missing+=(dovecot-core)

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

# Servers' files go to tmpfs when there is one (faster, and no disk noise).
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

echo "== cargo fmt --check"
cargo fmt --all --check
echo "== cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings
echo "== cargo test"
cargo test --workspace --locked
