#!/usr/bin/env bash
# Server time of every console page on the demo store: builds nothing, starts
# `tailor demo` (the README's full store) on a free port in a fresh directory, signs in
# as the admin, then asks each page RUNS times and prints, per page, the median and the
# slowest time to the first byte (curl's time_starttransfer minus time_pretransfer: the
# server's work, loopback only). The budget (issue 13, DESIGN.md) is 100 ms per page.
#
#   bash scripts/console-timing.sh [TAILOR_BINARY] [RUNS]
#
# TAILOR_BINARY defaults to target/release/tailor (cargo build --release); RUNS to 20.
set -euo pipefail
cd "$(dirname "$0")/.."
tailor="${1:-target/release/tailor}"
runs="${2:-20}"
[ -x "$tailor" ] || { echo "console-timing.sh: no binary at $tailor (cargo build --release)" >&2; exit 1; }
work=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
base="http://127.0.0.1:$port"
"$tailor" demo --data "$work/demo" --listen "127.0.0.1:$port" >"$work/demo.log" 2>&1 &
demo=$!
trap 'kill $demo 2>/dev/null; wait $demo 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 1 900); do
  # Built and serving: the demo prints its report last.
  grep -q 'Storefront:' "$work/demo.log" && break
  kill -0 $demo 2>/dev/null || { cat "$work/demo.log" >&2; exit 1; }
  sleep 1
done
admin=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["admin_key"])' "$work/demo/demo-keys.json")
jar="$work/cookies"
curl -fs -o /dev/null -c "$jar" -H "Origin: $base" --data-urlencode "key=$admin" "$base/console/signin"
# A person, a journey and an experiment the pages can open.
person=$(curl -fs -b "$jar" "$base/console/people?q=user-1" | grep -o '/console/people/p_[0-9]*' | head -1 | cut -d/ -f4)
journey=$(curl -fs -H "Authorization: Bearer $admin" "$base/v1/journeys" | python3 -c 'import json,sys; print(json.load(sys.stdin)["journeys"][0]["id"])')
template=$(curl -fs -H "Authorization: Bearer $admin" "$base/v1/templates" | python3 -c 'import json,sys; print(json.load(sys.stdin)["templates"][0]["id"])')
pages=(/console "/console/people?q=user-1" "/console/people/$person" /console/segments /console/placements
  /console/placements/home.hero /console/experiments /console/experiments/demo-recs-holdout /console/journeys
  "/console/journeys/$journey" /console/templates "/console/templates/$template" /console/models /console/privacy)
# Reports computed off the request (experiment results, journey reports) warm up first.
for page in "${pages[@]}"; do curl -fs -o /dev/null -b "$jar" "$base$page" || true; done
sleep 3
printf '%-44s %10s %10s\n' page "median ms" "max ms"
for page in "${pages[@]}"; do
  for _ in $(seq 1 "$runs"); do
    curl -s -o /dev/null -b "$jar" -w '%{http_code} %{time_pretransfer} %{time_starttransfer}\n' "$base$page"
  done | python3 -c '
import sys, statistics
rows = [l.split() for l in sys.stdin if l.strip()]
bad = [r[0] for r in rows if r[0] != "200"]
ms = sorted((float(r[2]) - float(r[1])) * 1000 for r in rows)
page = sys.argv[1]
print(f"{page:<44} {statistics.median(ms):10.1f} {ms[-1]:10.1f}" + (f"  (answers {set(bad)})" if bad else ""))
' "$page"
done
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
