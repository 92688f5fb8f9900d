#!/usr/bin/env bash
# Installs what crates/tailor/tests/segment_clients.rs needs: the official Segment
# client libraries for Python (tests/compat/requirements.txt, into the python3 on PATH)
# and Node (tests/compat/package-lock.json, into tests/compat/node_modules).
# Meant for a fresh Debian machine, as root, with python3 and node already there; safe
# to run again (already-satisfied packages are left alone, `npm ci` reinstalls from the
# lock file).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

for tool in python3 node npm; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "install.sh: $tool is not on PATH; it is expected to be preinstalled" >&2
    exit 1
  fi
done

# Debian's own python3 ships without pip; a pyenv or upstream python3 has it.
if ! python3 -m pip --version >/dev/null 2>&1; then
  if command -v apt-get >/dev/null 2>&1; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-pip
  else
    echo "install.sh: python3 has no pip and apt-get is not available" >&2
    exit 1
  fi
fi

# PIP_BREAK_SYSTEM_PACKAGES: Debian's python3 is "externally managed" (PEP 668) and
# refuses a plain `pip install`; these are test-only packages on a throwaway machine.
# Older pips ignore the variable.
PIP_BREAK_SYSTEM_PACKAGES=1 PIP_ROOT_USER_ACTION=ignore PIP_DISABLE_PIP_VERSION_CHECK=1 \
  python3 -m pip install --quiet -r "$here/requirements.txt"

(cd "$here" && npm ci --no-audit --no-fund --loglevel=error)

python3 -c "import importlib.metadata as m, segment.analytics; print('segment-analytics-python', m.version('segment-analytics-python'))"
node -e "console.log('@segment/analytics-node', require('$here/node_modules/@segment/analytics-node/package.json').version)"
