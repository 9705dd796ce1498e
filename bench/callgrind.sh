#!/usr/bin/env bash
# Instructions executed per request, counted by callgrind: a complement to
# bench/run.sh that a busy machine cannot disturb (see BENCHMARKS.md).
#
#   bench/callgrind.sh            GET one completed job, then POST /generate,
#                                 on vestis-mock-server and on bare axum, and
#                                 a page of 20 of a token's 100 jobs on the mock
#   ONLY_GET=1 bench/callgrind.sh the GETs alone
#
# Needs valgrind, wrk and curl; uses the release binaries bench/run.sh builds.
# Only the load's instructions are counted (instrumentation is switched on
# after start-up and set-up, off before shutdown).
set -euo pipefail
cd "$(dirname "$0")/.."
bin="${CARGO_TARGET_DIR:-target}/release"
seconds="${SECONDS_PER_LOAD:-4}"
work="$(mktemp -d)"
trap '[ -n "${KEEP:-}" ] || rm -rf "$work"' EXIT

# measure NAME PATH METHOD -- PROGRAM ARGS...: prints "NAME: N instructions per request".
measure() {
    local name="$1" path="$2" method="$3"
    shift 4
    valgrind --tool=callgrind --instr-atstart=no \
        --callgrind-out-file="$work/$name.out" "$@" >"$work/$name.log" 2>"$work/$name.err" &
    local pid=$!
    local base=""
    for _ in $(seq 600); do
        base="$(grep -o 'http://[0-9.:]*' "$work/$name.log" | head -1 || true)"
        [ -n "$base" ] && break
        sleep 0.1
    done
    [ -n "$base" ] || { echo "$name: no URL" >&2; kill "$pid"; return 1; }
    local url="$base$path"
    if [ "$name" = vestis-get ]; then
        curl -s -H 'Authorization: Bearer bench' -H 'Content-Type: application/json' \
            -d '{"prompt":"a red dress on a hanger"}' "$base/api/v1/generate?chat=true" >/dev/null
        sleep 1
        url="$base/api/v1/jobs/1"
    elif [ "$name" = vestis-list ]; then
        # The token's 100 jobs, completed: a page of 20 of them.
        for _ in $(seq 100); do
            curl -s -H 'Authorization: Bearer bench' -H 'Content-Type: application/json' \
                -d '{"prompt":"a red dress on a hanger"}' "$base/api/v1/generate?chat=true" >/dev/null
        done
        sleep 1
    fi
    local script="$work/post.lua"
    printf 'wrk.method = "POST"\nwrk.body = %s\nwrk.headers["Content-Type"] = "application/json"\n' \
        "'{\"prompt\":\"a red dress on a hanger\"}'" >"$script"
    local args=(-t1 -c4 "-d${seconds}s" -H 'Authorization: Bearer bench')
    [ "$method" = POST ] && args+=(-s "$script")
    wrk "${args[@]}" "$url" >/dev/null # warm-up, not counted
    callgrind_control -i on "$pid" >/dev/null
    local requests
    requests="$(wrk "${args[@]}" "$url" | awk '/requests in/ {print $1}')"
    callgrind_control -i off "$pid" >/dev/null
    callgrind_control -d "$pid" >/dev/null
    kill "$pid"
    wait "$pid" 2>/dev/null || true
    local total
    total="$(cat "$work/$name".out* | awk '/^totals:/ {s += $2} END {print s}')"
    echo "$name: $((total / requests)) instructions per request ($requests requests)"
}

measure axum-get /api/v1/jobs/1 GET -- "$bin/bench-axum"
measure vestis-get /api/v1/jobs/1 GET -- "$bin/vestis-mock-server" --port 0 --processing-time 0s
[ -n "${ONLY_GET:-}" ] && exit 0
measure vestis-list "/api/v1/jobs?page_size=20" GET -- "$bin/vestis-mock-server" --port 0 --processing-time 0s
measure axum-post /api/v1/generate POST -- "$bin/bench-axum"
measure vestis-post "/api/v1/generate?chat=true" POST -- "$bin/vestis-mock-server" --port 0 --max-jobs 20000000
