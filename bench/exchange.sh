#!/usr/bin/env bash
# Ferry into Exchange Online against the emulator (ferry_testkit::exchange): the one script to run.
#
# Builds `ferry` and `ferry-bench` in release mode and runs `ferry-bench exchange` on tmpfs and 127.0.0.1
# (Dovecot as for bench/mail.sh). Arguments go to `ferry-bench exchange`:
#
#   bench/exchange.sh                      # 4 mailboxes × 1,000 messages, budget 50/s burst 20, 3 runs
#   bench/exchange.sh --quick              # 2 mailboxes × 200 messages
#   bench/exchange.sh --rate 20 --burst 5 --json results.json
#   bench/exchange.sh --help
#
# See bench/README.md for what is measured and how to read it.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v dovecot >/dev/null 2>&1 || [ -x /usr/sbin/dovecot ] || {
  echo "bench/exchange.sh: Dovecot is missing: sudo apt-get install -y dovecot-imapd" >&2
  exit 2
}
echo "bench/exchange.sh: building ferry and ferry-bench (release)" >&2
cargo build --release -p ferry -p ferry-bench >&2
target_dir="$(cargo metadata --format-version 1 --no-deps | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')"
exec "${target_dir:-target}/release/ferry-bench" exchange --ferry "${target_dir:-target}/release/ferry" "$@"
