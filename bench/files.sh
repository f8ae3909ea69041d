#!/usr/bin/env bash
# Ferry's files benchmark against rclone copy and cp -a: the one script to run.
#
# Installs what it needs from Debian packages when missing (`rclone` for the peer and for the WebDAV
# server, GNU `time` for peak memory; as root, otherwise it prints the install command and stops), builds
# `ferry` and `ferry-bench` in release mode, and runs `ferry-bench files` on tmpfs and 127.0.0.1.
# Arguments go to `ferry-bench files`:
#
#   bench/files.sh                  # 100k-file tree, 2k-file WebDAV tree, 4 × 200 MB, 3 runs
#   bench/files.sh --quick          # 5k-file tree, 1k-file WebDAV tree, 4 × 50 MB: a smoke run
#   bench/files.sh --rss-flat       # also Ferry on 100k and 1M tiny files (peak RSS flatness)
#   bench/files.sh --runs 5 --json results.json --keep-logs /tmp/files-bench
#   bench/files.sh --help
#
# See bench/README.md for what is measured and how to read the table.
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
command -v rclone >/dev/null 2>&1 || missing+=(rclone)
[ -x /usr/bin/time ] || missing+=(time)

if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -eq 0 ]; then
    echo "bench/files.sh: installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    echo "bench/files.sh: missing ${missing[*]}. Install them with:" >&2
    echo "  sudo apt-get install -y ${missing[*]}" >&2
    exit 2
  fi
fi

echo "bench/files.sh: building ferry and ferry-bench (release)" >&2
cargo build --release -p ferry -p ferry-bench >&2

target_dir="$(cargo metadata --format-version 1 --no-deps | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')"
exec "${target_dir:-target}/release/ferry-bench" files --ferry "${target_dir:-target}/release/ferry" "$@"
