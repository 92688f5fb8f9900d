#!/usr/bin/env bash
# Runs every test of the workspace. First installs, inside the project, what the end-to-end
# tests drive (tests/lib/tools.sh; each once per change of its lock file): the official
# Segment client libraries for Python (with aiosmtpd, in the virtual environment
# .venv-tests/) and Node (tests/compat/node_modules); playwright-core and
# @segment/analytics-next (tests/browser/node_modules) and Debian's Chromium; PostgreSQL's
# server binaries (tests/pg/install.sh); the storefront SDK's test dependencies
# (sdk/web/node_modules). Then it runs the SDK's own tests (node's test runner) and `cargo
# test` with the external tests on: the ones that drive those clients, aiosmtpd, PostgreSQL
# or Chromium, or read ../shared/data. Plain `cargo test` skips them.
set -euo pipefail
cd "$(dirname "$0")/.."
source tests/lib/tools.sh
bash tests/compat/install.sh
bash tests/browser/install.sh
bash tests/pg/install.sh
npm_ci_once sdk/web
(cd sdk/web && npm test)
# Every test that runs Python runs this one (crates/testkit: `tools::python`).
export TAILOR_TEST_PYTHON="$TAILOR_TEST_VENV/bin/python"
TAILOR_EXTERNAL_TESTS=1 cargo test --workspace --locked "$@"
