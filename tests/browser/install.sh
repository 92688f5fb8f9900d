#!/usr/bin/env bash
# Installs what the browser tests need (crates/demo/tests/storefront_browser.rs,
# crates/tailor/tests/analytics_js.rs): Debian's Chromium (as root, when missing; the one
# thing installed outside the project), and playwright-core and @segment/analytics-next
# into tests/browser/node_modules, once per change of tests/browser/package-lock.json.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=../lib/tools.sh
source "$here/../lib/tools.sh"
require_tools node npm
if ! command -v chromium >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  else
    echo "install.sh: Chromium is missing; install Debian's chromium package (or set TAILOR_SKIP_BROWSER_TESTS=1)" >&2
    exit 1
  fi
fi
npm_ci_once "$here"
chromium --version
