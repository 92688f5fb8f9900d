#!/usr/bin/env bash
# A sustained run: `tailor serve` on a data directory seeded by `tailor bench`, decide at full
# speed (wrk, 16 connections) beside a steady batch ingest (wrk, 1 connection, 50 events per
# request) for MINUTES minutes, sampling every file's size and the server's resident memory
# every 10 s into OUT (CSV). Usage: scripts/sustained/run.sh TAILOR_BIN DATA_DIR MINUTES OUT
set -euo pipefail
bin=$1 data=$2 minutes=$3 out=$4
here=$(cd "$(dirname "$0")" && pwd)
if [ ! -e "$data/tailor.db" ]; then
  "$bin" bench --data "$data" --events 300000 --profiles 100000 --reads 2000 > /dev/null
fi
export TAILOR_KEY=bench-server
TAILOR_WRITE_KEY=bench-write TAILOR_SERVER_KEY=bench-server TAILOR_ADMIN_KEY=bench-admin \
  "$bin" serve --data "$data" --listen 127.0.0.1:18080 > "$out.server.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null; wait $server 2>/dev/null || true' EXIT
for _ in $(seq 100); do curl -fs http://127.0.0.1:18080/healthz > /dev/null && break; sleep 0.2; done
echo "seconds,load1,rss_kb,tailor_db,tailor_wal,profiles_db,profiles_wal,decisions_db,decisions_wal" > "$out"
size() { stat -c %s "$data/$1" 2>/dev/null || echo 0; }
sample() {
  echo "$1,$(cut -d' ' -f1 /proc/loadavg),$(awk '/VmRSS/ {print $2}' /proc/$server/status),$(size tailor.db),$(size tailor.db-wal),$(size profiles.db),$(size profiles.db-wal),$(size decisions.db),$(size decisions.db-wal)" >> "$out"
}
sample 0
wrk -t1 -c16 -d"${minutes}m" --latency -s "$here/decide.lua" http://127.0.0.1:18080 > "$out.decide.txt" &
decide=$!
wrk -t1 -c1 -d"${minutes}m" --latency -s "$here/ingest.lua" http://127.0.0.1:18080 > "$out.ingest.txt" &
ingest=$!
start=$(date +%s)
while kill -0 $decide 2>/dev/null; do
  sleep 10
  sample $(( $(date +%s) - start ))
done
wait $ingest || true
sample $(( $(date +%s) - start ))
curl -fs http://127.0.0.1:18080/metrics | grep -E '^tailor_(disk|decisions_total|events)' > "$out.metrics.txt" || true
kill $server; wait $server 2>/dev/null || true
sample after-shutdown
