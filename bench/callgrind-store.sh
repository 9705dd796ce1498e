#!/usr/bin/env bash
# Instructions per page of 20 (GET /api/v1/jobs?page_size=20) of a token's
# 100 jobs, with N other tokens' jobs stored too, counted by callgrind: the
# "no slowdown as the store grows" check in instructions (see BENCHMARKS.md).
#
#   bench/callgrind-store.sh 0        the token's 100 jobs alone
#   bench/callgrind-store.sh 1000000  and 1 000 000 other jobs (1000 tokens; a few minutes)
#
# Needs valgrind, wrk, curl and python3; uses the release binaries bench/run.sh builds.
set -euo pipefail
cd "$(dirname "$0")/.."
work="$(mktemp -d)"; trap 'rm -rf "$work"' EXIT
n=${1:-300000}
rm -f $work/loaded.out*
valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file=$work/loaded.out "${CARGO_TARGET_DIR:-target}/release/vestis-mock-server" --port 0 --max-jobs 20000000 >$work/loaded.log 2>$work/loaded.err &
pid=$!
for _ in $(seq 600); do base="$(grep -o 'http://[0-9.:]*' $work/loaded.log | head -1 || true)"; [ -n "$base" ] && break; sleep 0.1; done
for i in $(seq 100); do curl -s -H 'Authorization: Bearer bench' -H 'Content-Type: application/json' -d '{"prompt":"a red dress on a hanger"}' "$base/api/v1/generate?chat=true" >/dev/null; done
cat > $work/fill.lua <<'LUA'
wrk.method = "POST"
wrk.body = '{"prompt":"a red dress on a hanger"}'
wrk.headers["Content-Type"] = "application/json"
local n = 0
request = function()
  n = n + 1
  wrk.headers["Authorization"] = "Bearer other-" .. (n % 1000)
  return wrk.format(nil, "/api/v1/generate?chat=true")
end
LUA
while :; do
  stored=$(curl -s $base/__admin/overview | python3 -c 'import json,sys; d=json.load(sys.stdin); print(sum(d["counts"].values()) if isinstance(d["counts"], dict) else sum(d["counts"]))' 2>/dev/null || echo 0)
  [ "$stored" -ge "$n" ] && break
  wrk -t2 -c32 -d10s -s $work/fill.lua "$base" >/dev/null
done
echo "stored: $stored"
url="$base/api/v1/jobs?page_size=20"
wrk -t1 -c4 -d3s -H 'Authorization: Bearer bench' "$url" >/dev/null
callgrind_control -i on $pid >/dev/null
requests="$(wrk -t1 -c4 -d4s -H 'Authorization: Bearer bench' "$url" | awk '/requests in/ {print $1}')"
callgrind_control -i off $pid >/dev/null
callgrind_control -d $pid >/dev/null
kill $pid; wait $pid 2>/dev/null || true
total="$(cat $work/loaded.out* | awk '/^totals:/ {s += $2} END {print s}')"
echo "loaded list: $((total / requests)) instructions per request ($requests requests)"
