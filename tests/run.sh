#!/usr/bin/env bash
# Runs every test of the workspace. First installs what the end-to-end tests drive (the
# official Segment client libraries for Python and Node; Chromium and playwright-core for
# the storefront), then `cargo test`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tests/compat/install.sh
bash tests/browser/install.sh
cargo test --workspace --locked "$@"
