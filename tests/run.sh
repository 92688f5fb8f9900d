#!/usr/bin/env bash
# Runs every test of the workspace. First installs what the end-to-end tests drive (the
# official Segment client libraries for Python and Node; Chromium and playwright-core for
# the storefront), then `cargo test` with the external tests on: the ones that drive those
# clients, aiosmtpd or Chromium, or read ../shared/data. Plain `cargo test` skips them.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tests/compat/install.sh
bash tests/browser/install.sh
TAILOR_EXTERNAL_TESTS=1 cargo test --workspace --locked "$@"
