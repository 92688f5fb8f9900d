#!/usr/bin/env bash
# Tailor against the Python package `lifetimes` on the same CLV pipeline, side by side in one
# run: CDNOW_master.txt → calibration summary through 1997-09-30 → BG/NBD, Pareto/NBD and
# Gamma-Gamma fits → P(alive), expected purchases, expected spend and 12-month CLV for every
# customer. Tailor additionally scores the 39-week hold-out (per customer and weekly), so the
# comparison is conservative. Prints whole-process times (hyperfine, or timed loops without
# it) and the in-process times each side reports, and their ratios.
#
# Usage: scripts/clv/bench_vs_lifetimes.sh   (from the repository root)
# Env:   LIFETIMES_PYTHON  a python with lifetimes 0.11.3 (default /tmp/lt-venv/bin/python; see
#                          scripts/clv/lifetimes_reference.py for the pinned versions)
#        RUNS              runs per side (default 5)
set -euo pipefail
cd "$(dirname "$0")/../.."
PYTHON=${LIFETIMES_PYTHON:-/tmp/lt-venv/bin/python}
RUNS=${RUNS:-5}
DATA=../shared/data/cdnow/CDNOW_master.txt
END=1997-09-30
[ -f "$DATA" ] || { echo "missing $DATA (the shared data sets live beside the project)" >&2; exit 1; }
"$PYTHON" -c "import lifetimes" 2>/dev/null || {
  echo "no lifetimes in $PYTHON; install it as scripts/clv/lifetimes_reference.py says" >&2; exit 1; }
cargo build --release -p tailor --quiet
TAILOR=(./target/release/tailor eval clv --transactions "$DATA" --calibration-end "$END" --json)
LIFETIMES=("$PYTHON" scripts/clv/lifetimes_pipeline.py "$DATA" "$END")

echo "== in-process seconds (reading the file through the last prediction; best of $RUNS)"
best() { python3 -c 'import sys,json; print(min(json.loads(l)["seconds"] for l in sys.stdin))'; }
tailor_seconds=$(for _ in $(seq "$RUNS"); do "${TAILOR[@]}"; done | best)
lifetimes_seconds=$(for _ in $(seq "$RUNS"); do "${LIFETIMES[@]}"; done | best)
echo "tailor    $tailor_seconds s"
echo "lifetimes $lifetimes_seconds s"
python3 -c "print(f'in-process ratio: lifetimes / tailor = {$lifetimes_seconds / $tailor_seconds:.1f}x')"

echo "== whole processes (interpreter start and imports included)"
if command -v hyperfine >/dev/null; then
  hyperfine --warmup 1 --runs "$RUNS" --export-json /tmp/clv-bench.json \
    -n tailor "$(printf '%q ' "${TAILOR[@]}")" -n lifetimes "$(printf '%q ' "${LIFETIMES[@]}")"
  python3 -c '
import json
r = {x["command"]: x["mean"] for x in json.load(open("/tmp/clv-bench.json"))["results"]}
ratio = r["lifetimes"] / r["tailor"]
print(f"whole-process ratio: lifetimes / tailor = {ratio:.1f}x")'
else
  time_runs() { local start end; start=$(date +%s.%N); for _ in $(seq "$RUNS"); do "$@" >/dev/null; done
    end=$(date +%s.%N); python3 -c "print(($end - $start) / $RUNS)"; }
  t=$(time_runs "${TAILOR[@]}"); l=$(time_runs "${LIFETIMES[@]}")
  echo "tailor $t s, lifetimes $l s (mean of $RUNS)"
  python3 -c "print(f'whole-process ratio: lifetimes / tailor = {$l / $t:.1f}x')"
fi
