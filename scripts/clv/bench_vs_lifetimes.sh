#!/usr/bin/env bash
# Tailor against the Python package `lifetimes` on the same CLV pipeline, side by side in one
# run: CDNOW_master.txt → calibration summary through 1997-09-30 → BG/NBD, Pareto/NBD and
# Gamma-Gamma fits → P(alive), expected purchases, expected spend and 12-month CLV for every
# customer. Tailor additionally scores the 39-week hold-out (per customer and weekly), so the
# comparison is conservative. Prints whole-process times (hyperfine, or timed loops without
# it) and the in-process times each side reports (best and median, runs alternating), and
# their ratios.
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

echo "== in-process seconds (reading the file through the last prediction; $RUNS runs each, alternating)"
: >/tmp/clv-bench-tailor.jsonl; : >/tmp/clv-bench-lifetimes.jsonl
for _ in $(seq "$RUNS"); do
  "${TAILOR[@]}" >>/tmp/clv-bench-tailor.jsonl
  "${LIFETIMES[@]}" >>/tmp/clv-bench-lifetimes.jsonl
done
python3 - <<'PY'
import json, statistics
def seconds(path):
    return [json.loads(line)["seconds"] for line in open(path)]
t, l = seconds("/tmp/clv-bench-tailor.jsonl"), seconds("/tmp/clv-bench-lifetimes.jsonl")
for name, values in (("tailor", t), ("lifetimes", l)):
    print(f"{name:<10} best {min(values):.4f} s  median {statistics.median(values):.4f} s")
print(f"in-process ratio: best/best {min(l) / min(t):.1f}x, median/median "
      f"{statistics.median(l) / statistics.median(t):.1f}x")
PY

echo "== whole processes (interpreter start and imports included)"
if command -v hyperfine >/dev/null; then
  hyperfine --warmup 1 --runs "$RUNS" --export-json /tmp/clv-bench.json \
    -n tailor "$(printf '%q ' "${TAILOR[@]}")" -n lifetimes "$(printf '%q ' "${LIFETIMES[@]}")"
  python3 - <<'PY'
import json
r = {x["command"]: x for x in json.load(open("/tmp/clv-bench.json"))["results"]}
t, l = r["tailor"], r["lifetimes"]
for name, x in (("tailor", t), ("lifetimes", l)):
    print(f"{name:<10} min {x['min']:.4f} s  median {x['median']:.4f} s  mean {x['mean']:.4f} s")
print(f"whole-process ratio: mean/mean {l['mean'] / t['mean']:.1f}x, "
      f"median/median {l['median'] / t['median']:.1f}x, min/min {l['min'] / t['min']:.1f}x")
PY
else
  time_runs() { local start end; start=$(date +%s.%N); for _ in $(seq "$RUNS"); do "$@" >/dev/null; done
    end=$(date +%s.%N); python3 -c "print(($end - $start) / $RUNS)"; }
  t=$(time_runs "${TAILOR[@]}"); l=$(time_runs "${LIFETIMES[@]}")
  echo "tailor $t s, lifetimes $l s (mean of $RUNS)"
  python3 -c "print(f'whole-process ratio: lifetimes / tailor = {$l / $t:.1f}x')"
fi
