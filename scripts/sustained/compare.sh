#!/usr/bin/env bash
# Before/after over HTTP on the same data: `tailor serve` of binary BIN on DATA (a directory
# `tailor bench --data` left), then wrk (1 thread, 16 connections, SECONDS s) with each given
# script. Usage: scripts/sustained/compare.sh BIN DATA SECONDS SCRIPT...
set -euo pipefail
bin=$1 data=$2 seconds=$3; shift 3
export TAILOR_KEY=bench-server
TAILOR_WRITE_KEY=bench-write TAILOR_SERVER_KEY=bench-server TAILOR_ADMIN_KEY=bench-admin \
  "$bin" serve --data "$data" --listen 127.0.0.1:18081 > /dev/null 2>&1 &
server=$!
trap 'kill $server 2>/dev/null; wait $server 2>/dev/null || true' EXIT
for _ in $(seq 300); do curl -fs http://127.0.0.1:18081/healthz > /dev/null && break; sleep 0.2; done
for script in "$@"; do
  echo "== $(basename "$script") load: $(cut -d' ' -f1-3 /proc/loadavg)"
  wrk -t1 -c16 -d"${seconds}s" --latency -s "$script" http://127.0.0.1:18081 | grep -E "Requests/sec|50%|99%|Non-2xx"
done
