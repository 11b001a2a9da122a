#!/usr/bin/env bash
# The demo: the system doing its job, on this machine, in under two minutes. It sets the
# machine up, applies the schema, stores the demo users' TMDB sessions, starts the fake TMDB
# (or uses the real one when TMDB_API_KEY or TMDB_ACCESS_TOKEN is set), two consumers and a
# reaper in the background, enqueues a realistic batch of list edits through the bulk
# interface (some fail transiently, some permanently), prints the queue draining every
# second to its final stats, retries a credentials failure once the user's token is stored,
# and stops the consumers and the reaper with SIGTERM, showing that they exit cleanly.
# Everything it starts is stopped again, also on failure or Ctrl-C.
#
# Run again, it works on what the last run left: the counts add up, and an operation is a
# duplicate only of the latest pending operation on the same list (DESIGN.md,
# Deduplication).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

step() { printf '\n== %s\n' "$*"; }
die() { printf 'demo: %s\n' "$*" >&2; exit 1; }
# Wait (5 s at most) for a program started in the background to write its port into
# file $1; $2 is its log, $3 its name for the message when it does not.
wait_port() {
    for _ in $(seq 100); do
        [ -s "$1" ] && break
        sleep 0.05
    done
    [ -s "$1" ] || die "$3 did not start: $(cat "$2")"
}

bash scripts/setup.sh

tmdbq=build/producer/tmdbq
consumer_bin=build/consumer/tmdbq-consumer
reaper_bin=build/reaper/tmdbq-reaper
http_bin=build/http/tmdbq-http

# Short retry delays so that the demo's retries are seen within seconds, and a sweep every
# two seconds; every program started below reads the same values.
export TMDBQ_BACKOFF_BASE=${TMDBQ_BACKOFF_BASE:-1s} TMDBQ_BACKOFF_CAP=${TMDBQ_BACKOFF_CAP:-8s}
export TMDBQ_SWEEP_INTERVAL=${TMDBQ_SWEEP_INTERVAL:-2s}

fake_pid=
consumer_pids=()
reaper_pid=
http_pid=
work_dir=$(mktemp -d /tmp/tmdbq-demo.XXXXXX)
# Stops, by PID, whatever is still running (an early exit or Ctrl-C), then removes the logs.
cleanup() {
    local pid
    for pid in "${consumer_pids[@]}" $reaper_pid $http_pid $fake_pid; do
        kill -TERM "$pid" 2>/dev/null || true
    done
    for pid in "${consumer_pids[@]}" $reaper_pid $http_pid $fake_pid; do
        wait "$pid" 2>/dev/null || true
    done
    rm -rf "$work_dir"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

step "tmdbq migrate"
"$tmdbq" migrate

step "tmdbq session set (the demo users' TMDB sessions; secrets are never printed back)"
"$tmdbq" session set --user 1 --session-id demo-session --access-token demo-token
"$tmdbq" session set --user 2 --session-id demo-session-2

# Without TMDB credentials in the environment everything talks to the fake TMDB of the
# tests, on loopback, set up with the demo users' sessions and lists; with them, to the real
# TMDB (where the demo's made-up sessions are rejected, so the operations end failed with
# error_kind "credentials" until real ones are stored).
if [ -n "${TMDB_API_KEY:-}" ] || [ -n "${TMDB_ACCESS_TOKEN:-}" ]; then
    step "TMDB credentials are set: the consumers talk to ${TMDB_API_URL:-https://api.themoviedb.org}"
else
    step "no TMDB credentials set: starting the fake TMDB on 127.0.0.1"
    build/tests/fake_tmdb/fake-tmdb --port 0 --port-file "$work_dir/port" \
        --api-key demo-api-key 2>"$work_dir/fake.log" &
    fake_pid=$!
    wait_port "$work_dir/port" "$work_dir/fake.log" "the fake TMDB"
    fake="http://127.0.0.1:$(cat "$work_dir/port")"
    control() { curl -fsS -X POST -H 'Content-Type: application/json' -d "$2" "$fake$1" >/dev/null; }
    control /__control/users '{"user_id":1,"session_id":"demo-session","access_token":"demo-token"}'
    control /__control/users '{"user_id":2,"session_id":"demo-session-2"}'
    control /__control/lists '{"id":101,"owner":1,"name":"Watch later","items":[13]}'
    control /__control/lists '{"id":102,"owner":2,"name":"Noir","items":[]}'
    control /__control/lists '{"id":104,"owner":2,"name":"Old list","items":[78,79]}'
    echo "fake TMDB at $fake: users 1 and 2, lists 101 (user 1), 102 and 104 (user 2)"
    # The fake keeps TMDB's ceiling (40 requests in any second, 429 above it), which the
    # consumers' shared budget (TMDBQ_TMDB_RATE, 40/s) never crosses. Transient trouble on
    # list 102: the first add is rate limited (429, Retry-After: 1: every consumer waits a
    # second, no retry is spent), the next two meet a 503 and are retried with backoff;
    # only the list's operations that conflict with them wait (its update_list, a
    # barrier), so the list still ends as the batch says.
    control /__control/faults \
        '{"rate_limit":40,"path_contains":"/3/list/102/add_item","rate_limit_next":1,"retry_after":1,"fail_first":2,"fail_status":503}'
    echo "faults armed: 40 requests/s at most; POST /3/list/102/add_item answers 429 once, then 503 twice"
    export TMDB_API_URL=$fake TMDB_API_KEY=demo-api-key
fi

step "two consumers (tmdbq-consumer --concurrency 2) and a reaper, in the background"
for i in 1 2; do
    # --grace 5s: a stop never keeps the demo waiting long, even with work in flight.
    "$consumer_bin" --concurrency 2 --grace 5s --id "demo-$i" 2>"$work_dir/consumer-$i.log" &
    consumer_pids+=("$!")
    echo "consumer demo-$i: pid $!"
done
if [ -x "$reaper_bin" ]; then
    "$reaper_bin" 2>"$work_dir/reaper.log" &
    reaper_pid=$!
    echo "reaper: pid $reaper_pid, sweeping every $TMDBQ_SWEEP_INTERVAL"
else
    echo "reaper: $reaper_bin is not built (reaper/ missing from this checkout?); going on without it"
fi

# User 1 owns list 101, user 2 owns list 102 (and an old list 104). Line 3 repeats line 2
# (a double click: a duplicate of a pending operation, nothing is inserted, unless a
# consumer already took the first). Permanent failures, which end failed at once: user 2's
# update_list (no v4 access token stored yet: error_kind "credentials"), user 2 editing
# user 1's list (not permitted) and an add to list 999, which does not exist. The last line
# is invalid (a negative movie id) and is rejected with a message naming the field.
step "tmdbq enqueue --file - (22 operations, one JSON object a line)"
rc=0
stdbuf -oL "$tmdbq" enqueue --file - <<'EOF' || rc=$?
{"type":"create_list","user":1,"name":"Weekend watchlist","description":"Saturday films"}
{"type":"add_movie","user":1,"list":101,"movie":550}
{"type":"add_movie","user":1,"list":101,"movie":550}
{"type":"add_movie","user":1,"list":101,"movie":680}
{"type":"add_movie","user":1,"list":101,"data":{"movie_id":13}}
{"type":"add_movie","user":1,"list":101,"movie":603}
{"type":"add_movie","user":1,"list":101,"movie":157336}
{"type":"add_movie","user":1,"list":101,"movie":27205}
{"type":"remove_movie","user":1,"list":101,"movie":680}
{"type":"update_list","user":1,"list":101,"name":"Saturday night films","public":true}
{"type":"create_list","user":2,"name":"Noir classics","public":true}
{"type":"add_movie","user":2,"list":102,"movie":963}
{"type":"add_movie","user":2,"list":102,"movie":996}
{"type":"add_movie","user":2,"list":102,"movie":1092}
{"type":"add_movie","user":2,"list":102,"movie":599}
{"type":"add_movie","user":2,"list":102,"movie":289}
{"type":"remove_movie","user":2,"list":102,"movie":599}
{"type":"update_list","user":2,"list":102,"description":"Crime, 1941 to 1950"}
{"type":"clear_list","user":2,"list":104}
{"type":"add_movie","user":2,"list":101,"movie":238}
{"type":"add_movie","user":1,"list":999,"movie":550}
{"type":"add_movie","user":1,"list":101,"movie":-5}
EOF
case $rc in
0 | 2) ;; # 2: some line was invalid (the last one is, on purpose); the others are queued
*) die "tmdbq enqueue failed with exit status $rc" ;;
esac

# The output of `tmdbq --json stats` (pending, processing, ... total).
stats_json() { "$tmdbq" --json stats 2>/dev/null || echo '(stats unavailable)'; }

# Prints the stats every second until nothing is pending or processing, seen twice in a
# row (a retry between two states is not the end), for at most $1 seconds.
watch_drain() {
    local limit=$1 t=0 idle=0 json
    local re='"pending":([0-9]+),"processing":([0-9]+)'
    while [ "$t" -le "$limit" ]; do
        json=$(stats_json)
        printf '  t=%2ds  %s\n' "$t" "$json"
        if [[ $json =~ $re ]] && [ "${BASH_REMATCH[1]}" = 0 ] && [ "${BASH_REMATCH[2]}" = 0 ]; then
            idle=$((idle + 1))
            [ "$idle" -ge 2 ] && return 0
        else
            idle=0
        fi
        sleep 1
        t=$((t + 1))
    done
    echo "  not drained after ${limit}s; going on (the stats below tell what is left)"
}

step "the queue draining (tmdbq --json stats every second)"
watch_drain 60

if [ -n "$fake_pid" ]; then
    step "what the fake TMDB answered (requests per HTTP status)"
    curl -fsS "$fake/__control/requests" | grep -o '"status":[0-9]*' | cut -d: -f2 |
        sort | uniq -c | awk '{ printf "  %s: %d\n", $2, $1 }'
fi

# tmdbq-http: the same queue over HTTP and JSON (docs/http.md), on a free loopback port,
# with a token made for this run. One operation with curl, then what Prometheus scrapes.
step "tmdbq-http: one operation enqueued with curl, then /metrics"
TMDBQ_HTTP_TOKEN="demo-$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')"
export TMDBQ_HTTP_TOKEN
TMDBQ_HTTP_LISTEN=127.0.0.1:0 "$http_bin" --port-file "$work_dir/http.port" \
    2>"$work_dir/http.log" &
http_pid=$!
wait_port "$work_dir/http.port" "$work_dir/http.log" "tmdbq-http"
http="http://127.0.0.1:$(cat "$work_dir/http.port")"
echo "tmdbq-http: pid $http_pid at $http"
echo "\$ curl -H \"Authorization: Bearer \$TMDBQ_HTTP_TOKEN\" -d '{\"type\":\"add_movie\",\"user\":1,\"list\":101,\"movie\":78}' $http/v1/operations"
curl -sS -w '\n(HTTP %{http_code})\n' -H "Authorization: Bearer $TMDBQ_HTTP_TOKEN" \
    -d '{"type":"add_movie","user":1,"list":101,"movie":78}' "$http/v1/operations"
watch_drain 10
echo "\$ curl $http/metrics    (some of it)"
curl -sS "$http/metrics" |
    grep -E '^tmdbq_(operations|operations_finished_total|tmdb_requests_total|consumers_live|oldest_pending_age_seconds|tmdb_request_duration_seconds_count)[{ ]|^tmdbq_queue_messages\{queue="[^"]*\.work"' ||
    true
echo "(every request is one line of tmdbq-http's log:)"
tail -n 2 "$work_dir/http.log"

step "tmdbq stats"
"$tmdbq" stats

step "tmdbq failed (what needs a person, newest first)"
"$tmdbq" failed

# User 2 had no v4 access token, so their update_list failed with error_kind "credentials".
# Storing one retries exactly those operations; the running consumers apply them.
if [ -n "$fake_pid" ]; then
    control /__control/users '{"user_id":2,"session_id":"demo-session-2","access_token":"demo-token-2"}'
    step "tmdbq session set --user 2 ... --access-token ... (retries user 2's credential failures)"
    "$tmdbq" session set --user 2 --session-id demo-session-2 --access-token demo-token-2
    watch_drain 30
    "$tmdbq" stats

    step "the fake TMDB's lists now"
    curl -fsS "$fake/__control/lists"
    echo
fi

step "tmdbq status (the live consumers and the reaper)"
"$tmdbq" status || true

step "stopping the consumers, the reaper and tmdbq-http: SIGTERM to each PID, then wait for its exit"
stop_failed=0
stop() {
    local name=$1 pid=$2 log=$3 rc=0
    kill -TERM "$pid"
    wait "$pid" || rc=$?
    printf '  %-16s pid %-7s exit status %d; its last log line: %s\n' "$name" "$pid" "$rc" \
        "$(tail -n 1 "$log")"
    [ "$rc" -eq 0 ] || stop_failed=1
}
for i in 1 2; do
    stop "consumer demo-$i" "${consumer_pids[i - 1]}" "$work_dir/consumer-$i.log"
done
consumer_pids=()
if [ -n "$reaper_pid" ]; then
    stop reaper "$reaper_pid" "$work_dir/reaper.log"
    reaper_pid=
fi
if [ -n "$http_pid" ]; then
    stop tmdbq-http "$http_pid" "$work_dir/http.log"
    http_pid=
fi
[ "$stop_failed" = 0 ] || die "a consumer, the reaper or tmdbq-http did not exit cleanly (status above)"

cat <<EOF

Every operation is a row of queued_list_operations in PostgreSQL; ids travel through the
RabbitMQ queue ${TMDBQ_AMQP_PREFIX:-tmdbq}.work (management UI: http://localhost:15672,
guest/guest). Look at one operation: $tmdbq show ID
EOF
