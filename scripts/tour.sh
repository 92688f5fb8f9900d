#!/usr/bin/env bash
# A newcomer's first hour, as a script: from a checkout, README.md's Set-up (the release
# build and `tailor demo`, the full 5,000-shopper store), then every command of its tour in
# order, as written, on a machine where nothing else listens (the README test's full mode:
# crates/tailor/tests/readme, on free ports, in a fresh directory), comparing what each
# prints with what the README quotes; then reruns the evaluation whose figures the README
# quotes and compares them with scripts/readme-figures/. CI runs it after the tests
# (.ci/run); about 6 minutes on 2 cores after the builds.
set -euo pipefail
cd "$(dirname "$0")/.."
started=$(date +%s)
cargo build --release --locked
export TAILOR_EXTERNAL_TESTS=1 TAILOR_README_TOUR=full TAILOR_README_BIN="$PWD/target/release/tailor"
cargo test --locked -p tailor --test readme the_tour -- --nocapture
bash scripts/readme-figures.sh --check target/release/tailor
echo "tour.sh: Set-up and the tour ran as the README says ($(( $(date +%s) - started )) s)"
