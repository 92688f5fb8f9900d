# Shared by the install scripts: installs the test tools inside the project, each once per
# change of what pins it. Sourced, not run.
#
# - Python libraries go into one virtual environment, `.venv-tests/` at the project's root
#   (git-ignored); tests run its interpreter (`TAILOR_TEST_PYTHON`, set by tests/run.sh).
# - npm packages go into the `node_modules/` beside each package-lock.json.
# A stamp file holds the hash of what was installed from; when it matches, nothing runs.

tools_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
TAILOR_TEST_VENV="${TAILOR_TEST_VENV:-$tools_root/.venv-tests}"

fingerprint() { cat "$@" | sha256sum | cut -d' ' -f1; }

# npm_ci_once DIR: `npm ci` in DIR unless DIR/node_modules was installed from this lock file.
npm_ci_once() {
  local dir="$1" stamp="$1/node_modules/.tailor-lock-sha256" want
  want="$(fingerprint "$dir/package-lock.json")"
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
    echo "npm: $dir/node_modules is up to date with its package-lock.json"
    return 0
  fi
  (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)
  echo "$want" >"$stamp"
}

# venv_once REQUIREMENTS: the project's Python environment with REQUIREMENTS installed,
# unless it already was (same file, same python3).
venv_once() {
  local requirements="$1" stamp="$TAILOR_TEST_VENV/.tailor-requirements-sha256" want
  want="$( (cat "$requirements"; python3 --version) | sha256sum | cut -d' ' -f1)"
  if [ -x "$TAILOR_TEST_VENV/bin/python" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
    echo "python: $TAILOR_TEST_VENV is up to date with $(basename "$requirements")"
    return 0
  fi
  rm -rf "$TAILOR_TEST_VENV"
  if ! python3 -m venv "$TAILOR_TEST_VENV" 2>/dev/null; then
    # Debian's python3 splits venv (and ensurepip) into python3-venv.
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
      apt-get update -qq
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
      rm -rf "$TAILOR_TEST_VENV"
      python3 -m venv "$TAILOR_TEST_VENV"
    else
      echo "tools.sh: python3 cannot make a virtual environment; install python3-venv" >&2
      return 1
    fi
  fi
  PIP_DISABLE_PIP_VERSION_CHECK=1 "$TAILOR_TEST_VENV/bin/python" -m pip install --quiet -r "$requirements"
  echo "$want" >"$stamp"
}

require_tools() {
  local tool
  for tool in "$@"; do
    if ! command -v "$tool" >/dev/null 2>&1; then
      echo "install: $tool is not on PATH; it is expected to be preinstalled" >&2
      return 1
    fi
  done
}
