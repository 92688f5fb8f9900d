#!/usr/bin/env bash
# Regenerates the evaluation figures README.md and BENCHMARKS.md quote, by running the
# commands printed beside them, and writes them to scripts/readme-figures/:
#   eval-intent.json  `tailor eval intent --json` on the default demo's history
#   train.json        `tailor train --data … --json` on the same history (the version record:
#                     its evaluation, the predictions table and the forecast table)
#   eval-recs.json    `tailor eval recs --json` on the shared YOOCHOOSE sample
#   eval-ope.json     `tailor eval ope --json` on the shared Open Bandit sample
# (times, paths, dates and version numbers, which differ on every run, are left out). The
# README test (crates/tailor/tests/readme/figures.rs) checks that README.md and BENCHMARKS.md
# quote these files; a figure edited by hand, or a file regenerated without updating them,
# fails it.
#
#   bash scripts/readme-figures.sh [TAILOR_BINARY]          # rewrite the files
#   bash scripts/readme-figures.sh --check [TAILOR_BINARY]  # fail if a figure changed
#
# TAILOR_BINARY defaults to target/release/tailor (built with `cargo build --release`). The
# public-data files need ../shared/data (TAILOR_SHARED_DATA); without it they are left as
# they are and said so. About a minute on 2 cores after the release build: the demo's
# history is rebuilt from scratch.
set -euo pipefail
cd "$(dirname "$0")/.."
check=0
if [ "${1:-}" = "--check" ]; then check=1; shift; fi
tailor="${1:-target/release/tailor}"
data="${TAILOR_SHARED_DATA:-../shared/data}"
[ -x "$tailor" ] || { echo "readme-figures.sh: no binary at $tailor (cargo build --release)" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
made=()

# The README's commands, with the binary for `cargo run --release --`.
"$tailor" demo --no-serve --fresh --live-visits 0 --data "$work/intent" >/dev/null
"$tailor" eval intent --data "$work/intent" --json >"$work/eval-intent.raw"
made+=(eval-intent)
"$tailor" train --data "$work/intent" --json >"$work/train.raw"
made+=(train)
yoochoose="$data/yoochoose-100k"
if [ -f "$yoochoose/yoochoose-clicks-100k_train_full.txt" ]; then
  "$tailor" eval recs --train "$yoochoose/yoochoose-clicks-100k_train_full.txt" \
    --test "$yoochoose/yoochoose-clicks-100k_test.txt" --json >"$work/eval-recs.raw"
  made+=(eval-recs)
else
  echo "readme-figures.sh: no $yoochoose: eval-recs.json left as it is" >&2
fi
obd="$data/open-bandit"
if [ -f "$obd/random/all.csv" ]; then
  "$tailor" eval ope --logs "$obd/random/all.csv" --target-dist "$obd/bts/action_dist_bts_all.csv" \
    --target-logs "$obd/bts/all.csv" --train-policy --json >"$work/eval-ope.raw" 2>"$work/eval-ope.stderr"
  made+=(eval-ope)
else
  echo "readme-figures.sh: no $obd: eval-ope.json left as it is" >&2
fi

python3 - "$work" "${made[@]}" <<'PY'
import json, os, sys
work, names = sys.argv[1], sys.argv[2:]

def drop(d, *path):
    for key in path[:-1]:
        d = d.get(key) if isinstance(d, dict) else None
        if d is None:
            return
    if isinstance(d, dict):
        d.pop(path[-1], None)

def walk_drop(v, keys):
    """Drops `keys` wherever they occur."""
    if isinstance(v, dict):
        for k in keys:
            v.pop(k, None)
        for x in v.values():
            walk_drop(x, keys)
    elif isinstance(v, list):
        for x in v:
            walk_drop(x, keys)

def drop_paths(v):
    """Drops the input files' paths (they name this machine's directories)."""
    if isinstance(v, dict):
        for k in [k for k, x in v.items() if isinstance(x, str) and "/" in x and os.path.exists(x)]:
            v.pop(k)
        for x in v.values():
            drop_paths(x)
    elif isinstance(v, list):
        for x in v:
            drop_paths(x)

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

for name in names:
    report = json.load(open(f"{work}/{name}.raw"))
    # What differs from run to run without the figures changing: where, when, how long.
    walk_drop(report, ["seconds", "dir"])
    drop_paths(report)
    if name == "eval-intent":
        for key in ("first", "cut", "last"):
            drop(report, "data", key)
        # The history ends at the last midnight, so it falls on another weekday each day: the
        # one fixed hour of the week the baseline picks is named by weekday (its score is the
        # same).
        drop(report, "send_time", "baseline_hour")
    if name == "train":
        for key in ("version", "trained_at", "window", "started_at", "finished_at"):
            report.pop(key, None)
        walk_drop(report, ["cut", "from", "to", "at", "generated_at"])
        # Sums and shares the README states in words, computed here from the same record.
        e = report["evaluation"]
        cats = e["forecast"]["categories"]
        gain = lambda c: c["orders_wape"]["baseline"] - c["orders_wape"]["model"]
        wins = [c for c in cats if gain(c) > 0]
        losses = [c for c in cats if gain(c) <= 0]
        pick = lambda c: {"category": c["category"], "model": c["orders_wape"]["model"],
                          "naive": c["orders_wape"]["baseline"]}
        report["derived"] = {
            "session_positive_rate": e["purchase_intent_session"]["test_positives"]
                / e["purchase_intent_session"]["test"],
            "seven_day_positive_rate": e["purchase_intent_7d"]["test_positives"]
                / e["purchase_intent_7d"]["test"],
            "forecast_categories": len(cats),
            "forecast_actual_orders": sum(c["actual_orders"] for c in cats),
            "forecast_model_orders": sum(c["model_orders"] for c in cats),
            "forecast_naive_orders": sum(c["baseline_orders"] for c in cats),
            "forecast_model_wins": len(wins),
            "forecast_naive_wins": len(losses),
            "forecast_best_win": pick(max(wins, key=gain)) if wins else None,
            "forecast_worst_loss": pick(min(losses, key=gain)) if losses else None,
        }
    json.dump(rounded(report), open(f"{work}/{name}.json", "w"), indent=2, sort_keys=True)
    open(f"{work}/{name}.json", "a").write("\n")
PY

status=0
for name in "${made[@]}"; do
  target="scripts/readme-figures/$name.json"
  if [ "$check" = 1 ]; then
    if ! diff -u "$target" "$work/$name.json"; then
      echo "readme-figures.sh: $target changed; run bash scripts/readme-figures.sh and update README.md / BENCHMARKS.md" >&2
      status=1
    else
      echo "readme-figures.sh: $target is what the commands print"
    fi
  else
    cp "$work/$name.json" "$target"
    echo "readme-figures.sh: wrote $target"
  fi
done
exit $status
