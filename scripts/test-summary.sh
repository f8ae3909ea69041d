#!/usr/bin/env bash
# Summarise the output of `cargo test --no-fail-fast` (a log file, or stdin): totals over every test
# binary, then each binary that failed with its failed tests, then the binaries cargo reports as failed
# (one that did not build or crashed prints no "test result" line, but cargo names it at the end).
# Used by scripts/test.sh; `scripts/test-summary.sh target/test-run.log` re-prints a summary.
set -euo pipefail
log="${1:--}"
awk '
  /^ *Running / { bin = $0; sub(/^ *Running /, "", bin); sub(/ \(.*$/, "", bin) }
  /^ *Doc-tests / { bin = $0; sub(/^ *Doc-tests /, "doc-tests ", bin) }
  /^test .* \.\.\. FAILED$/ { failed[bin] = failed[bin] "    " $2 "\n" }
  /^test result: / {
    binaries++
    for (i = 2; i <= NF; i++) {
      if ($(i) ~ /^(passed|failed|ignored);$/) { k = $(i); sub(/;$/, "", k); total[k] += $(i - 1) }
    }
    if ($3 != "ok.") { bad[++nbad] = bin }
  }
  /^error: ([0-9]+ )?targets? failed/ { cargo_says = 1 }
  cargo_says && /^    `-p / { targets = targets $0 "\n" }
  END {
    # The plain closing form CI reads ("N passed, N failed, N skipped"); ignored tests count as skipped.
    printf "test binaries: %d\n", binaries
    printf "tests: %d passed, %d failed, %d skipped\n", total["passed"], total["failed"], total["ignored"]
    for (i = 1; i <= nbad; i++) { printf "  FAILED %s\n%s", bad[i], failed[bad[i]] }
    if (targets != "") { printf "cargo reports these targets failed:\n%s", targets }
  }
' "$log"
