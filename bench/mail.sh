#!/usr/bin/env bash
# Ferry's mail benchmark against mbsync: the one script to run.
#
# Installs what it needs from Debian packages when missing (Dovecot, mbsync from `isync`, GNU `time` for
# peak memory; as root, otherwise it prints the install command and stops), builds `ferry` and
# `ferry-bench` in release mode, and runs the benchmark on loopback Dovecot servers on tmpfs. Arguments go
# to ferry-bench:
#
#   bench/mail.sh                   # 10 users × 2,000 messages, 3 runs (a few minutes)
#   bench/mail.sh --quick           # 3 users × 300 messages: a smoke run
#   bench/mail.sh --runs 5 --json results.json
#   bench/mail.sh --help
#
# See bench/README.md for what is measured and how to read the table.
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
have() { command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ] || [ -x "/usr/bin/$1" ]; }
have dovecot || missing+=(dovecot-imapd)
have doveadm || missing+=(dovecot-core)
have mbsync || missing+=(isync)
[ -x /usr/bin/time ] || missing+=(time)

if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -eq 0 ]; then
    echo "bench/mail.sh: installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    echo "bench/mail.sh: missing ${missing[*]}. Install them with:" >&2
    echo "  sudo apt-get install -y ${missing[*]}" >&2
    exit 2
  fi
fi

echo "bench/mail.sh: building ferry and ferry-bench (release)" >&2
cargo build --release -p ferry -p ferry-bench >&2

target_dir="$(cargo metadata --format-version 1 --no-deps | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')"
exec "${target_dir:-target}/release/ferry-bench" --ferry "${target_dir:-target}/release/ferry" "$@"
