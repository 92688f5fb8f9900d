#!/usr/bin/env bash
# Fuzzes one target of fuzz/ (coverage-guided: libFuzzer through cargo-bolero, on stable
# Rust, no sanitizer) for a while, then folds what it found into the target's corpus.
#
#   bash scripts/fuzz.sh TARGET [DURATION]     e.g. bash scripts/fuzz.sh condition 15min
#   bash scripts/fuzz.sh --list
#
# Targets: segment message catalog condition experiment definitions template decide token.
# Installs cargo-bolero once (a C++ compiler builds libFuzzer; Debian: g++). The corpus is
# fuzz/tests/__fuzz__/TARGET/corpus; a crash lands in .../crashes and fails the run:
# fix it, keep the file there (plain `cargo test -p tailor-fuzz` replays it) and add a
# regression test. CI never fuzzes: `cargo test --workspace` replays every corpus in seconds.
set -euo pipefail
cd "$(dirname "$0")/.."
targets="segment message catalog condition experiment definitions template decide token"
if [ "${1:-}" = "--list" ]; then echo "$targets"; exit 0; fi
target=${1:?usage: scripts/fuzz.sh TARGET [DURATION such as 10min or 1h]; --list for targets}
duration=${2:-10min}
case " $targets " in *" $target "*) ;; *) echo "unknown target $target; one of: $targets" >&2; exit 2;; esac
if ! command -v cargo-bolero >/dev/null; then
    cargo install cargo-bolero --version 0.13.5 --locked --no-default-features --features libfuzzer
fi
export CARGO_INCREMENTAL=0
# Inputs past 16 KB are slow to mutate and hide nothing the smaller ones do not; the
# per-input timeout is a hang (the targets check their own, tighter budget).
nice -n 10 cargo bolero test -p tailor-fuzz --sanitizer NONE --profile fuzz \
    --max-input-length 16384 --timeout 10s -T "$duration" \
    --engine-args="-dict=$PWD/fuzz/dict/tailor.dict" --engine-args=-rss_limit_mb=4096 \
    --engine-args=-print_final_stats=1 \
    "$target"
# Fold the run's finds into a minimal corpus (libFuzzer's -merge, by edges only, not hit
# counts): what the repository keeps stays small (a few hundred KB for all targets).
nice -n 10 cargo bolero reduce -p tailor-fuzz --sanitizer NONE --profile fuzz \
    --engine-args=-use_counters=0 --engine-args=-use_value_profile=0 "$target"
