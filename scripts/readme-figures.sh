#!/usr/bin/env bash
# Regenerates the evaluation figures README.md quotes ("Evaluating on your own data"), by
# running the commands printed beside them, and writes them to scripts/readme-figures/:
#   eval-intent.json  `tailor eval intent --json` on the default demo's history
# (times, paths and dates, which differ on every run, are left out). The README test
# (crates/tailor/tests/readme/figures.rs) checks that the README quotes these files.
#
#   bash scripts/readme-figures.sh [TAILOR_BINARY]          # rewrite the files
#   bash scripts/readme-figures.sh --check [TAILOR_BINARY]  # fail if a figure changed
#
# TAILOR_BINARY defaults to target/release/tailor (built with `cargo build --release`).
# About 30 s on 2 cores after the release build: the demo's history is rebuilt from scratch.
set -euo pipefail
cd "$(dirname "$0")/.."
check=0
if [ "${1:-}" = "--check" ]; then check=1; shift; fi
tailor="${1:-target/release/tailor}"
[ -x "$tailor" ] || { echo "readme-figures.sh: no binary at $tailor (cargo build --release)" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# The README's commands, with the binary for `cargo run --release --`.
"$tailor" demo --no-serve --fresh --live-visits 0 --data "$work/intent" >/dev/null
"$tailor" eval intent --data "$work/intent" --json >"$work/raw.json"

python3 - "$work/raw.json" "$work/eval-intent.json" <<'PY'
import json, sys
report = json.load(open(sys.argv[1]))
# What differs from run to run without the figures changing: where, when, how long.
report.pop("seconds", None)
for key in ("dir", "first", "cut", "last"):
    report["data"].pop(key, None)
# The history ends at the last midnight, so it falls on another weekday each day: the one
# fixed hour of the week the baseline picks is named by weekday (its score is the same).
report["send_time"].pop("baseline_hour", None)
# Six decimals: the README shows at most four, and a sum's last bits move with the order
# it is added in (and between debug and release builds).
def rounded(v):
    if isinstance(v, float):
        return round(v, 6)
    if isinstance(v, list):
        return [rounded(x) for x in v]
    if isinstance(v, dict):
        return {k: rounded(x) for k, x in v.items()}
    return v
report = rounded(report)
json.dump(report, open(sys.argv[2], "w"), indent=2, sort_keys=True)
open(sys.argv[2], "a").write("\n")
PY

target=scripts/readme-figures/eval-intent.json
if [ "$check" = 1 ]; then
  if ! diff -u "$target" "$work/eval-intent.json"; then
    echo "readme-figures.sh: the evaluation's figures changed; run bash scripts/readme-figures.sh and update README.md" >&2
    exit 1
  fi
  echo "readme-figures.sh: $target is what the commands print"
else
  cp "$work/eval-intent.json" "$target"
  echo "readme-figures.sh: wrote $target"
fi
