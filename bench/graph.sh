#!/usr/bin/env bash
# Ferry into OneDrive/SharePoint against the Graph emulator: the one script to run.
#
# Builds `ferry` and `ferry-bench` in release mode and runs `ferry-bench graph` on tmpfs and 127.0.0.1
# (rclone is needed for the WebDAV reference and GNU `time` for peak memory, as for bench/files.sh).
# Arguments go to `ferry-bench graph`:
#
#   bench/graph.sh                        # 5k small files, 2 × 200 MB, budget 600 req / 10 s, 3 runs
#   bench/graph.sh --quick                # 1k small files, 2 × 40 MB
#   bench/graph.sh --only emulator        # the emulator's own single-stream rate only (no ferry needed)
#   bench/graph.sh --rss-flat --json results.json
#   bench/graph.sh --help
#
# See bench/README.md for what is measured and how to read it.
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
command -v rclone >/dev/null 2>&1 || missing+=(rclone)
[ -x /usr/bin/time ] || missing+=(time)
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -eq 0 ]; then
    echo "bench/graph.sh: installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    echo "bench/graph.sh: missing ${missing[*]}. Install them with:" >&2
    echo "  sudo apt-get install -y ${missing[*]}" >&2
    exit 2
  fi
fi

echo "bench/graph.sh: building ferry and ferry-bench (release)" >&2
cargo build --release -p ferry -p ferry-bench >&2

target_dir="$(cargo metadata --format-version 1 --no-deps | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')"
exec "${target_dir:-target}/release/ferry-bench" graph --ferry "${target_dir:-target}/release/ferry" "$@"
