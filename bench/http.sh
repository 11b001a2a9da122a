#!/usr/bin/env bash
# How fast tmdbq-http takes operations in. Prints figures, never pass/fail:
#   (a) single POST /v1/operations from 8 concurrent clients (wrk: 8 threads, 8
#       keep-alive connections, every request a new add_movie), for BENCH_SECONDS:
#       requests/s and latency percentiles, and the rows PostgreSQL holds afterwards;
#   (b) the same from 1 client, for the latency of a request that finds no company;
#   (c) the bulk form, {"operations": [...]} of 1,000 operations per request, from 1
#       client, BENCH_BULK operations in all: operations/s.
# tmdbq-http runs from BUILD_DIR (default build) with its defaults (pool of 8 handles)
# in a database of its own (tmdbq_bench_http, dropped at the end) under the AMQP prefix
# tmdbq_bench_http (its queues and exchanges are deleted at the end), and is stopped by
# its PID. wrk (Debian's package) is installed when missing.
#
# Knobs: BENCH_SECONDS (20), BENCH_BULK (20000), BUILD_DIR (build),
# TMDBQ_BENCH_PG (postgresql://tmdbq:tmdbq@localhost:5432: server and role to use),
# TMDBQ_BENCH_RABBIT_API (http://localhost:15672/api, guest/guest: for the cleanup).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

seconds=${BENCH_SECONDS:-20}
bulk_n=${BENCH_BULK:-20000}
build=${BUILD_DIR:-build}
pg_base=${TMDBQ_BENCH_PG:-postgresql://tmdbq:tmdbq@localhost:5432}
rabbit_api=${TMDBQ_BENCH_RABBIT_API:-http://localhost:15672/api}
bench_db=tmdbq_bench_http
prefix=tmdbq_bench_http
http_bin=$build/http/tmdbq-http

say() { printf 'bench: %s\n' "$*" >&2; }
die() {
    printf 'bench: error: %s\n' "$*" >&2
    exit 1
}
elapsed() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.3f", b - a }'; }
rate() { awk -v n="$1" -v s="$2" 'BEGIN { printf "%.1f", (s > 0 ? n / s : 0) }'; }

if [ ! -x "$http_bin" ]; then
    say "$http_bin is missing: building with scripts/setup.sh"
    bash scripts/setup.sh >&2
fi
if ! command -v wrk >/dev/null 2>&1; then
    SUDO=()
    [ "$(id -u)" -eq 0 ] || SUDO=(sudo)
    say "installing Debian's wrk"
    "${SUDO[@]}" apt-get update -q >/dev/null
    "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -q --no-install-recommends wrk >/dev/null
fi

admin_psql() { psql -X -q -t -A -v ON_ERROR_STOP=1 "$pg_base/postgres" -c "$1"; }

work=$(mktemp -d /tmp/tmdbq-bench-http.XXXXXX)
http_pid=

cleanup() {
    set +e
    if [ -n "$http_pid" ]; then
        kill -TERM "$http_pid" 2>/dev/null
        wait "$http_pid" 2>/dev/null
    fi
    say "cleaning up: database $bench_db, AMQP prefix $prefix"
    admin_psql "DROP DATABASE IF EXISTS $bench_db WITH (FORCE)" >/dev/null
    if command -v rabbitmqctl >/dev/null 2>&1; then
        local q
        for q in $(timeout 30 rabbitmqctl -q list_queues name 2>/dev/null |
            grep "^$prefix\\."); do
            timeout 30 rabbitmqctl -q delete_queue "$q" >/dev/null 2>&1
        done
    fi
    local x
    for x in work retry dead; do
        curl -s -o /dev/null -m 10 -u guest:guest -X DELETE \
            "$rabbit_api/exchanges/%2F/$prefix.$x"
    done
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

export TMDBQ_DATABASE_URL="$pg_base/$bench_db"
export TMDBQ_AMQP_PREFIX=$prefix
export TMDBQ_HTTP_LISTEN=127.0.0.1:0
TMDBQ_HTTP_TOKEN=bench-$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')
export TMDBQ_HTTP_TOKEN
# One line per request would be the benchmark's own noise in the figures: warnings only.
export TMDBQ_LOG_LEVEL=${TMDBQ_LOG_LEVEL:-warn}

say "creating database $bench_db"
admin_psql "DROP DATABASE IF EXISTS $bench_db WITH (FORCE)" >/dev/null
admin_psql "CREATE DATABASE $bench_db" >/dev/null
timeout 60 "$build/producer/tmdbq" migrate >&2

"$http_bin" --port-file "$work/port" 2>"$work/http.log" &
http_pid=$!
for _ in $(seq 100); do
    [ -s "$work/port" ] && break
    sleep 0.05
done
[ -s "$work/port" ] || die "tmdbq-http did not start: $(cat "$work/http.log")"
base="http://127.0.0.1:$(cat "$work/port")"

# Every request a new operation: thread t, request i -> list 1000 + i % 500, movie
# t * 10^7 + i (no duplicates, many lists, so the lists' locks are not what is measured).
cat >"$work/post.lua" <<'EOF'
local threads = {}
function setup(thread)
  thread:set("tid", #threads + 1)
  table.insert(threads, thread)
end
local counter = 0
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
function request()
  counter = counter + 1
  local body = string.format('{"type":"add_movie","user":%d,"list":%d,"movie":%d}',
                             tid, 1000 + counter % 500, tid * 10000000 + counter)
  return wrk.format(nil, nil, nil, body)
end
EOF

pg_version=$(psql -X -t -A "$TMDBQ_DATABASE_URL" -c 'SHOW server_version')
sync_commit=$(psql -X -t -A "$TMDBQ_DATABASE_URL" -c 'SHOW synchronous_commit')
printf 'tmdbq-http benchmark, %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)"
printf 'machine: %s CPUs, load %s; PostgreSQL %s (synchronous_commit=%s); tmdbq-http %s\n\n' \
    "$(nproc)" "$(cut -d' ' -f1-3 /proc/loadavg)" "${pg_version%% *}" "$sync_commit" \
    "$("$http_bin" --version | cut -d' ' -f2)"

# wrk's summary as: requests/s p50 p90 p99 non2xx
wrk_run() {
    local threads=$1 conns=$2 out=$3
    wrk -t "$threads" -c "$conns" -d "${seconds}s" --latency -s "$work/post.lua" \
        -H "Authorization: Bearer $TMDBQ_HTTP_TOKEN" "$base/v1/operations" >"$out" 2>&1 ||
        { cat "$out" >&2; die "wrk failed"; }
    awk '/^Requests\/sec:/ { rps = $2 }
         /^ +50%/ { p50 = $2 } /^ +90%/ { p90 = $2 } /^ +99%/ { p99 = $2 }
         /Non-2xx or 3xx responses:/ { bad = $5 }
         END { printf "%s %s %s %s %d\n", rps, p50, p90, p99, bad }' "$out"
}

rows() { psql -X -t -A "$TMDBQ_DATABASE_URL" -c 'SELECT count(*) FROM queued_list_operations'; }

say "(a) ${seconds}s of single POSTs from 8 clients"
read -r rps p50 p90 p99 bad < <(wrk_run 8 8 "$work/wrk8.out")
n8=$(rows)
printf '(a) single POST, 8 clients:  %9s requests/s   p50 %s  p90 %s  p99 %s   non-2xx %d, rows %d\n' \
    "$rps" "$p50" "$p90" "$p99" "$bad" "$n8"

say "(b) ${seconds}s of single POSTs from 1 client"
read -r rps p50 p90 p99 bad < <(wrk_run 1 1 "$work/wrk1.out")
printf '(b) single POST, 1 client:   %9s requests/s   p50 %s  p90 %s  p99 %s   non-2xx %d\n' \
    "$rps" "$p50" "$p90" "$p99" "$bad"

say "(c) bulk form: $bulk_n operations, 1000 per request"
requests=$(((bulk_n + 999) / 1000))
for ((r = 0; r < requests; r++)); do
    awk -v r="$r" -v n="$bulk_n" 'BEGIN {
        printf "{\"operations\":["
        for (i = r * 1000; i < (r + 1) * 1000 && i < n; i++)
            printf "%s{\"type\":\"add_movie\",\"user\":99,\"list\":%d,\"movie\":%d}",
                   (i == r * 1000 ? "" : ","), 5000 + i % 100, 90000000 + i
        printf "]}"
    }' >"$work/bulk.$r.json"
done
before=$(rows)
start=$EPOCHREALTIME
for ((r = 0; r < requests; r++)); do
    code=$(curl -s -o "$work/bulk.out" -w '%{http_code}' -m 120 \
        -H "Authorization: Bearer $TMDBQ_HTTP_TOKEN" -H 'Content-Type: application/json' \
        --data-binary "@$work/bulk.$r.json" "$base/v1/operations")
    [ "$code" = 200 ] || die "bulk request $r answered $code: $(head -c 300 "$work/bulk.out")"
done
bulk_s=$(elapsed "$start")
added=$(($(rows) - before))
printf '(c) bulk form, 1 client:     %9s operations/s (%d operations in %s s, %d requests; rows added %d)\n' \
    "$(rate "$bulk_n" "$bulk_s")" "$bulk_n" "$bulk_s" "$requests" "$added"
