#!/usr/bin/env bash
# Runs every test of the workspace. First installs what the end-to-end tests drive (the
# official Segment client libraries for Python and Node; Chromium, playwright-core and
# @segment/analytics-next for the browser tests; PostgreSQL's server binaries), runs the storefront SDK's own tests
# (sdk/web, node's test runner), then `cargo test` with the external tests on: the ones that
# drive those clients, aiosmtpd or Chromium, or read ../shared/data. Plain `cargo test`
# skips them.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tests/compat/install.sh
bash tests/browser/install.sh
bash tests/pg/install.sh
(cd sdk/web && npm ci --no-audit --no-fund --loglevel=error && npm test)
TAILOR_EXTERNAL_TESTS=1 cargo test --workspace --locked "$@"
