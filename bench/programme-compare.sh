#!/usr/bin/env bash
# Before/after for `ferry-bench programme` in one script: two builds (each a directory holding `ferry` and
# `ferry-bench`), alternating A, B, A, B… for `--rounds` rounds of one run each (a fresh server and, on
# PostgreSQL, a fresh database per run), then the median per build, store and operation.
#
#   bench/programme-compare.sh /tmp/before /tmp/after            # 3 rounds, 20,000 / 10,000 mappings
#   ROUNDS=5 bench/programme-compare.sh /tmp/before /tmp/after --quick
#
# PostgreSQL runs when FERRY_TEST_POSTGRES names a cluster (see bench/programme.sh). Extra arguments go to
# `ferry-bench programme`. See bench/README.md.
set -euo pipefail
a="$1"; b="$2"; shift 2
rounds="${ROUNDS:-3}"
out="$(mktemp -d "${TMPDIR:-/tmp}/ferry-compare.XXXXXX")"
for i in $(seq 1 "$rounds"); do
  for side in a b; do
    dir="$a"; [ "$side" = b ] && dir="$b"
    echo "round $i: $dir" >&2
    "$dir/ferry-bench" programme --runs 1 --ferry "$dir/ferry" --json "$out/$side-$i.json" "$@" >"$out/$side-$i.txt" 2>&1
  done
done
python3 - "$out" "$a" "$b" <<'PY'
import json, glob, statistics, sys
out, a, b = sys.argv[1:4]
def medians(side):
    runs = {}
    for f in sorted(glob.glob(f"{out}/{side}-*.json")):
        for r in json.load(open(f))["results"]:
            runs.setdefault((r["operation"], r["store"]), []).append(r["runs_ms"][0])
    return runs
ra, rb = medians("a"), medians("b")
print(f"{'operation':<22} {'store':<11} {'before (median ms)':>20} {'after (median ms)':>20}   runs after")
for key in ra:
    ma, mb = statistics.median(ra[key]), statistics.median(rb.get(key, [float('nan')]))
    runs = ", ".join(f"{x:.0f}" for x in rb.get(key, []))
    print(f"{key[0]:<22} {key[1]:<11} {ma:>20.0f} {mb:>20.0f}   {runs}")
print(f"(per-run files in {out})")
PY
