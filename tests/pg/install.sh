#!/usr/bin/env bash
# Installs the PostgreSQL server the PostgreSQL store's tests start (Debian's `postgresql`
# package: initdb, postgres, pg_isready, psql under /usr/lib/postgresql/<version>/bin).
# Skips everything when a server is already installed; the tests make and remove their own
# clusters in temporary directories, so nothing here starts or configures a server.
set -euo pipefail
if ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
    exit 0
fi
if [ "$(id -u)" != 0 ]; then
    echo "PostgreSQL is not installed; run as root: apt-get install -y postgresql" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# Only the server binaries; the package's own cluster is not needed (and not started here).
apt-get install -y -qq --no-install-recommends postgresql >/dev/null
# Debian's package starts a cluster of its own where it can; the tests do not use it.
if command -v pg_ctlcluster >/dev/null 2>&1; then
    for c in /etc/postgresql/*/main; do
        [ -d "$c" ] && pg_ctlcluster "$(basename "$(dirname "$c")")" main stop 2>/dev/null || true
    done
fi
