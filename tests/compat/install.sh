#!/usr/bin/env bash
# Installs what crates/tailor/tests/segment_clients.rs and the journeys' SMTP tests need,
# inside the project: the official Segment client library for Python and aiosmtpd
# (tests/compat/requirements.txt) into the virtual environment .venv-tests/, and
# @segment/analytics-node (tests/compat/package-lock.json) into tests/compat/node_modules.
# Each is installed once per change of its pinning file (tests/lib/tools.sh); nothing goes
# into the machine's own Python. Needs python3 (with venv), node and npm.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=../lib/tools.sh
source "$here/../lib/tools.sh"
require_tools python3 node npm

venv_once "$here/requirements.txt"
npm_ci_once "$here"

"$TAILOR_TEST_VENV/bin/python" -c "import importlib.metadata as m, segment.analytics; print('segment-analytics-python', m.version('segment-analytics-python'), 'in', '$TAILOR_TEST_VENV')"
node -e "console.log('@segment/analytics-node', require('$here/node_modules/@segment/analytics-node/package.json').version)"
