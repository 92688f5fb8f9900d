#!/usr/bin/env bash
# Runs every test of the workspace. First installs what the compatibility tests drive
# (the official Segment client libraries for Python and Node), then `cargo test`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tests/compat/install.sh
cargo test --workspace --locked "$@"
