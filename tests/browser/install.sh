#!/usr/bin/env bash
# Installs what the browser tests need (crates/demo/tests/storefront_browser.rs,
# crates/tailor/tests/analytics_js.rs): Debian's Chromium (as root, when missing), and
# playwright-core and @segment/analytics-next from tests/browser/package-lock.json. Safe
# to run again.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
if ! command -v chromium >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  else
    echo "install.sh: Chromium is missing; install Debian's chromium package (or set TAILOR_SKIP_BROWSER_TESTS=1)" >&2
    exit 1
  fi
fi
(cd "$here" && npm ci --no-audit --no-fund --loglevel=error)
chromium --version
