#!/usr/bin/env bash
# TMDB's real ceiling: how close 1, 3 and 6 consumer processes come to it together.
#
# The fake TMDB enforces 40 requests in any 1000 ms window (its `rate_limit` fault: above
# it, 429 with Retry-After), the same ceiling as the consumers' default budget
# (TMDBQ_TMDB_RATE unset = 40 requests/s, one budget shared by every consumer of the queue).
# For each number of consumer processes (BENCH_PROCS, "1 3 6"), each at its defaults
# (--concurrency 4), a backlog of N add_movie operations (20 lists of 4 users, taken in turn,
# distinct movies, so nothing conflicts or is a duplicate) is enqueued in bulk with
# `tmdbq enqueue --file`, and then the consumers are started and left to drain it. Per
# consumer count it prints:
#   - drain time, from starting the consumers to the last operation finished (the rows'
#     updated_at), the drain rate in ops/s and that rate as a share of the ceiling (the aim
#     is >= 95%; the budget spaces slots (1000 + 20) / 40 ms apart, so 98% is its best);
#   - TMDB requests the fake received, its window's 429s, and their share in %;
#   - database statements the budget cost (tmdbq_rate.statements, every call of
#     tmdbq_rate_lease, after minus before) per TMDB request;
#   - operations failed and operations with retry_count > 0 (both should be 0);
# and, on lines of its own, the most requests the fake accepted in any window, what the
# consumers reported to the budget (tmdbq_rate_stats), operations per process, and what
# the consumers logged when anything was rate limited, failed or complained. Then one table,
# a row per consumer count. Figures, never pass/fail: the exit status says only whether the
# benchmark itself ran.
#
# Needs PostgreSQL and RabbitMQ running (bash scripts/setup.sh installs and starts them;
# bash scripts/services.sh start starts them), curl, and the programs in build/ (built with
# bash scripts/build.sh build when one is missing). Each consumer count gets a database of
# its own (tmdbq_bench_rate_<pid>_p<procs>, created and migrated here, dropped afterwards)
# and an AMQP prefix of its own (the same name: its queues and exchanges are deleted
# afterwards), so it never touches another stack's rows or queues; the fake TMDB is started
# on 127.0.0.1 and stopped at the end. Every process it starts is stopped by its PID, with
# SIGTERM, also when the benchmark is interrupted. A drain that has not finished after
# BENCH_BOUND_FACTOR times the ideal drain time (N / 40 s) is stopped and its partial
# figures printed. About 40 s per consumer count at the defaults.
#
# Knobs: N (1500: operations per drain), BENCH_PROCS ("1 3 6"), BENCH_BOUND_FACTOR (3),
# BENCH_LOG_LEVEL (the consumers' TMDBQ_LOG_LEVEL, default info), BENCH_KEEP (non-empty: keep
# the work directory, with the consumers' logs and the fake's records of every drain),
# TMDBQ_BENCH_BUILD (build: the build directory whose tmdbq, tmdbq-consumer and fake-tmdb
# run; e.g. a private build of the same tree), TMDBQ_BENCH_PG
# (postgresql://tmdbq:tmdbq@localhost:5432: server and role to use), TMDBQ_BENCH_RABBIT_API
# (http://localhost:15672/api, guest/guest: queue cleanup). TMDBQ_TMDB_RATE and
# TMDBQ_TMDB_RATE_SCOPE are unset for the consumers: they run at the defaults.
set -euo pipefail
export LC_ALL=C # EPOCHREALTIME and awk with a decimal point

cd "$(dirname "${BASH_SOURCE[0]}")/.."

ops_n=${N:-1500}
procs_set=${BENCH_PROCS:-1 3 6}
bound_factor=${BENCH_BOUND_FACTOR:-3}
log_level=${BENCH_LOG_LEVEL:-info}
keep=${BENCH_KEEP:-}
build_dir=${TMDBQ_BENCH_BUILD:-build}
pg_base=${TMDBQ_BENCH_PG:-postgresql://tmdbq:tmdbq@localhost:5432}
rabbit_api=${TMDBQ_BENCH_RABBIT_API:-http://localhost:15672/api}
run_name=tmdbq_bench_rate_$$ # databases and AMQP prefixes: ${run_name}_p<procs>
tmdbq=$build_dir/producer/tmdbq
consumer=$build_dir/consumer/tmdbq-consumer
fake=$build_dir/tests/fake_tmdb/fake-tmdb
api_key=bench-rate-api-key
ceiling=40     # the fake's window, and TMDBQ_TMDB_RATE's default
window_ms=1000 # TMDB's window
lists_n=20
users_n=4
first_list=6001
first_movie=200000

# shellcheck source=bench/lib.sh disable=SC1091
. bench/lib.sh

# Seconds since an EPOCHREALTIME reading, with awk for the fractions.
elapsed() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.3f", b - a }'; }

posint N "$ops_n"
posint BENCH_BOUND_FACTOR "$bound_factor"
for v in $procs_set; do posint BENCH_PROCS "$v"; done
[ -n "$procs_set" ] || die "BENCH_PROCS is empty"

for b in "$tmdbq" "$consumer" "$fake"; do
    if [ ! -x "$b" ]; then
        say "$b is missing: building with bash scripts/build.sh $build_dir"
        bash scripts/build.sh "$build_dir" >&2 || die "the build failed"
        break
    fi
done
for b in "$tmdbq" "$consumer" "$fake"; do
    [ -x "$b" ] || die "$b is missing after the build"
done
command -v curl >/dev/null || die "curl is needed"
command -v psql >/dev/null || die "psql is needed"

admin_psql() { # quiet about DROP ... IF EXISTS of what is not there
    PGOPTIONS='-c client_min_messages=warning' \
        psql -X -q -t -A -v ON_ERROR_STOP=1 "$pg_base/postgres" -c "$1"
}
db_psql() {
    psql -X -q -t -A -F ' ' -v ON_ERROR_STOP=1 "$TMDBQ_DATABASE_URL" "$@"
}

admin_psql 'SELECT 1' >/dev/null 2>&1 ||
    die "PostgreSQL does not answer at $pg_base (bash scripts/services.sh start)"

work=$(mktemp -d /tmp/tmdbq-bench-rate.XXXXXX)
fake_pid=""
consumer_pids=()
made_dbs=()

# Queues and exchanges of this run: ${run_name}_p<procs>.<suffix>.
rabbit_names() { # queues|exchanges
    curl -s -m 10 -u guest:guest "$rabbit_api/$1/%2F?columns=name" |
        grep -o '"name":"[^"]*"' | sed 's/^"name":"//; s/"$//' |
        grep -E "^${run_name}_p[0-9]+\\." || true
}

cleanup() {
    set +e
    local p d q x
    for p in "${consumer_pids[@]}"; do
        # the timeout wrapper passes the signal on to the consumer, once
        kill -TERM "$p" 2>/dev/null && wait "$p" 2>/dev/null
    done
    if [ -n "$fake_pid" ]; then
        kill -TERM "$fake_pid" 2>/dev/null && wait "$fake_pid" 2>/dev/null
    fi
    for d in "${made_dbs[@]}"; do
        admin_psql "DROP DATABASE IF EXISTS $d WITH (FORCE)" >/dev/null
    done
    if curl -s -o /dev/null -f -m 5 -u guest:guest "$rabbit_api/overview"; then
        for q in $(rabbit_names queues); do
            curl -s -o /dev/null -m 10 -u guest:guest -X DELETE "$rabbit_api/queues/%2F/$q"
        done
        for x in $(rabbit_names exchanges); do
            curl -s -o /dev/null -m 10 -u guest:guest -X DELETE \
                "$rabbit_api/exchanges/%2F/$x"
        done
    elif command -v rabbitmqctl >/dev/null 2>&1; then
        for q in $(timeout 30 rabbitmqctl -q list_queues name 2>/dev/null |
            grep -E "^${run_name}_p[0-9]+\\."); do
            timeout 30 rabbitmqctl -q delete_queue "$q" >/dev/null 2>&1
        done
    fi
    if [ -n "$keep" ]; then
        say "kept $work: consumer logs, the fake's records"
    else
        rm -rf "$work"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# The consumers run at the defaults, whatever the caller's environment says.
unset TMDBQ_TMDB_RATE TMDBQ_TMDB_RATE_SCOPE TMDB_ACCESS_TOKEN

# The fake TMDB, on a free loopback port, for the whole run (reset before every drain).
fake_start "$fake" "$work" "$api_key"
export TMDB_API_URL=$fake_url TMDB_API_KEY=$api_key

# One curl, one connection: reset the fake, then its users, lists and the ceiling.
{
    printf 'url = "%s/__control/reset"\nrequest = "POST"\noutput = "/dev/null"\n' "$fake_url"
    printf 'write-out = "%%{http_code}\\n"\n'
    for ((u = 1; u <= users_n; u++)); do
        printf 'next\nurl = "%s/__control/users"\noutput = "/dev/null"\n' "$fake_url"
        printf 'data = "{\\"user_id\\":%d,\\"session_id\\":\\"bench-rate-session-%d\\"}"\n' \
            "$u" "$u"
        printf 'write-out = "%%{http_code}\\n"\n'
    done
    for ((l = 0; l < lists_n; l++)); do
        printf 'next\nurl = "%s/__control/lists"\noutput = "/dev/null"\n' "$fake_url"
        printf 'data = "{\\"id\\":%d,\\"owner\\":%d}"\n' \
            $((first_list + l)) $((1 + l % users_n))
        printf 'write-out = "%%{http_code}\\n"\n'
    done
    printf 'next\nurl = "%s/__control/faults"\noutput = "/dev/null"\n' "$fake_url"
    printf 'data = "{\\"rate_limit\\":%d,\\"rate_window_ms\\":%d}"\n' "$ceiling" "$window_ms"
    printf 'write-out = "%%{http_code}\\n"\n'
} >"$work/fake-setup.cfg"
fake_setup() {
    local codes
    codes=$(timeout 60 curl -s -K "$work/fake-setup.cfg") || die "fake set-up failed"
    [ "$(printf '%s\n' "$codes" | grep -cv '^20[01]$' || true)" -eq 0 ] ||
        die "fake set-up answered: $(printf '%s\n' "$codes" | sort | uniq -c | tr '\n' ' ')"
}
# TMDB requests the fake received since its reset, and the 429s its window sent.
fake_count() {
    curl -s -m 5 "$fake_url/__control/requests?count=1" |
        sed -n 's/.*"count":\([0-9]*\).*/\1/p'
}
fake_limited() {
    curl -s -m 5 "$fake_url/__control/faults" | sed -n 's/.*"limited":\([0-9]*\).*/\1/p'
}
# From the fake's records (arrival t_ms, monotonic), saved to FILE: "PEAK SPANS": the most
# requests the window accepted (anything but its 429s) in any window_ms, and for each 429
# (the first 5) how long the ceiling's worth of accepted requests before it took, in ms.
fake_window() { # FILE
    curl -s -m 30 "$fake_url/__control/requests" >"$1"
    grep -o '"status":[0-9]*,"t_ms":[0-9]*' "$1" |
        awk -F'[:,]' -v w="$window_ms" -v c="$ceiling" '
            $2 == 429 { if (n >= c && ns++ < 5) spans = spans (spans ? "," : "") $4 - t[n - c]
                        next }
            { t[n++] = $4 }
            END { j = 0; for (i = 0; i < n; i++) {
                      while (t[i] - t[j] >= w) j++
                      if (i - j + 1 > m) m = i - j + 1 }
                  print m + 0, (spans ? spans : "-") }'
}

# Operation i (0-based) goes to list i mod L, whose owner makes it, with movie M0 + i: the
# lists take turns, as many users' edits would, and nothing is a duplicate.
awk -v n="$ops_n" -v nl="$lists_n" -v nu="$users_n" -v l0="$first_list" \
    -v m0="$first_movie" 'BEGIN {
    for (i = 0; i < n; i++) {
        l = i % nl
        printf "{\"type\":\"add_movie\",\"user\":%d,\"list\":%d,\"movie\":%d}\n",
               1 + l % nu, l0 + l, m0 + i
    }
}' >"$work/ops.jsonl"

# Give up on a drain after bound_factor times the ideal drain time (N / ceiling s).
ideal=$(awk -v n="$ops_n" -v c="$ceiling" 'BEGIN { printf "%.1f", n / c }')
bound=$(awk -v i="$ideal" -v f="$bound_factor" 'BEGIN { b = i * f; printf "%d", (b < 10 ? 10 : b + 0.999) }')

code=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
[ -z "$(git status --porcelain -- common consumer migrations producer 2>/dev/null)" ] ||
    code+=" with uncommitted changes"
printf 'tmdbq rate benchmark (TMDB ceiling), %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)"
# The programs may be older than the tree (another engineer's edits): say so.
stale=$(find common consumer producer migrations tests/fake_tmdb -newer "$consumer" \
    \( -name '*.[ch]' -o -name '*.sql' \) 2>/dev/null | head -n 1)
printf 'machine: %s CPUs; PostgreSQL %s; code %s; programs from %s/ (%s%s)\n' "$(nproc)" \
    "$(admin_psql 'SHOW server_version' | cut -d' ' -f1)" "$code" "$build_dir" \
    "$(timeout 10 "$consumer" --version 2>/dev/null || echo '?')" \
    "${stale:+; older than $stale: rebuild to measure the tree}"
printf 'fake TMDB: at most %d requests in any %d ms (429 + Retry-After above); consumers: defaults (--concurrency 4, TMDBQ_TMDB_RATE unset = %d/s for the queue)\n' \
    "$ceiling" "$window_ms" "$ceiling"
printf 'backlog: %d add_movie over %d lists of %d users, distinct movies; ideal drain %s s; bound %d s\n\n' \
    "$ops_n" "$lists_n" "$users_n" "$ideal" "$bound"

# ---- one drain ------------------------------------------------------------------------
# drain PROCS: a fresh database and prefix, the backlog, PROCS consumers; prints the
# figures and appends a row to the table.
table=()
drain() {
    local procs=$1
    local name=${run_name}_p$1
    local i p rc
    say "$procs consumer(s): database and AMQP prefix $name"

    made_dbs+=("$name")
    admin_psql "DROP DATABASE IF EXISTS $name WITH (FORCE)" >/dev/null
    admin_psql "CREATE DATABASE $name" >/dev/null
    export TMDBQ_DATABASE_URL="$pg_base/$name" TMDBQ_AMQP_PREFIX=$name
    timeout 60 "$tmdbq" migrate >"$work/migrate.out" 2>&1 ||
        die "tmdbq migrate failed: $(tail -n 3 "$work/migrate.out")"
    [ "$(db_psql -c "SELECT count(*) FROM information_schema.columns
            WHERE table_name = 'tmdbq_rate' AND column_name = 'statements'")" -eq 1 ] ||
        die "tmdbq_rate has no statements column: $build_dir/ is older than the rate migration's text (rebuild)"

    # Users 1..U own the lists round robin; each has a session in the fake and in tmdbq.
    for ((i = 1; i <= users_n; i++)); do
        timeout 30 "$tmdbq" session set --user "$i" --session-id "bench-rate-session-$i" \
            >/dev/null
    done
    fake_setup

    local start secs published
    start=$EPOCHREALTIME
    rc=0
    timeout 300 "$tmdbq" enqueue --file "$work/ops.jsonl" --json >"$work/enqueue.out" ||
        rc=$?
    secs=$(elapsed "$start")
    [ "$rc" -eq 0 ] || die "bulk enqueue failed (exit status $rc)"
    published=$(grep -c '"published":true' "$work/enqueue.out" || true)
    [ "$published" -eq "$ops_n" ] || die "only $published of $ops_n operations were published"
    say "$procs consumer(s): enqueued $ops_n in $secs s; draining"

    local st0
    st0=$(db_psql -c 'SELECT coalesce(sum(statements), 0) FROM tmdbq_rate')

    local t0
    t0=$EPOCHREALTIME
    consumer_pids=()
    for ((i = 1; i <= procs; i++)); do
        # timeout: a safety net should this script die without its trap
        # --foreground: signal the consumer once (without it GNU timeout sends SIGTERM to
        # the consumer and to its process group, and a second signal means exit at once).
        TMDBQ_LOG_LEVEL=$log_level timeout --foreground -k 10 $((bound + 120)) \
            "$consumer" 2>"$work/consumer.$procs.$i.log" &
        consumer_pids+=($!)
    done

    # Until no operation is pending or processing, the bound passes, or every consumer has
    # exited.
    local left alive note=""
    while :; do
        left=$(db_psql -c "SELECT count(*) FROM queued_list_operations
                            WHERE status IN ('pending', 'processing')")
        [ "$left" -gt 0 ] || break
        alive=0
        for p in "${consumer_pids[@]}"; do
            if kill -0 "$p" 2>/dev/null; then alive=1; fi
        done
        if [ "$alive" -eq 0 ]; then
            note=" (every consumer exited with $left left)"
            break
        fi
        if awk -v e="$(elapsed "$t0")" -v b="$bound" 'BEGIN { exit !(e > b) }'; then
            note=" (not drained after $bound s: stopped with $left left)"
            break
        fi
        sleep 0.5
    done
    for p in "${consumer_pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
    local codes=""
    for p in "${consumer_pids[@]}"; do
        rc=0
        wait "$p" || rc=$?
        codes+="${codes:+,}$rc"
    done
    consumer_pids=()

    # From the rows: outcomes and the last finish, in seconds since the start.
    local q done_n failed_n retried_n others last first
    q=$(db_psql -c "
        SELECT count(*) FILTER (WHERE status = 'completed'),
               count(*) FILTER (WHERE status = 'failed'),
               count(*) FILTER (WHERE retry_count > 0),
               coalesce(extract(epoch FROM max(updated_at) FILTER (
                   WHERE status IN ('completed', 'failed'))) - $t0, 0),
               coalesce(extract(epoch FROM min(updated_at) FILTER (
                   WHERE status IN ('completed', 'failed'))) - $t0, 0)
          FROM queued_list_operations")
    read -r done_n failed_n retried_n last first <<<"$q"
    others=$(db_psql -c "SELECT string_agg(status || ' ' || n, ', ') FROM (
        SELECT status, count(*) AS n FROM queued_list_operations
         WHERE status NOT IN ('completed', 'failed') GROUP BY status ORDER BY status) s")
    local per_proc
    per_proc=$(db_psql -c "SELECT string_agg(n::text, ' ' ORDER BY n DESC) FROM (
        SELECT count(*) AS n FROM queued_list_operations WHERE status = 'completed'
         GROUP BY substring(claimed_by FROM ':([0-9]+):[0-9]+\$')) s")
    local st1 rep_req rep_lim
    st1=$(db_psql -c 'SELECT coalesce(sum(statements), 0) FROM tmdbq_rate')
    read -r rep_req rep_lim < <(db_psql -c \
        'SELECT coalesce(sum(requests), 0), coalesce(sum(limited), 0) FROM tmdbq_rate_stats')

    local requests limited peak spans
    requests=$(fake_count)
    limited=$(fake_limited)
    read -r peak spans < <(fake_window "$work/requests.$procs.json")

    local fin=$((done_n + failed_n)) rate pct share per_req
    rate=$(awk -v n="$fin" -v s="$last" 'BEGIN { printf "%.1f", (s > 0 ? n / s : 0) }')
    pct=$(awk -v r="$rate" -v c="$ceiling" 'BEGIN { printf "%.1f", 100 * r / c }')
    share=$(awk -v l="${limited:-0}" -v r="${requests:-0}" \
        'BEGIN { printf "%.2f", (r > 0 ? 100 * l / r : 0) }')
    per_req=$(awk -v s="$((st1 - st0))" -v r="${requests:-0}" \
        'BEGIN { printf "%.3f", (r > 0 ? s / r : 0) }')

    [ "$fin" -eq "$ops_n" ] || note+=" INCOMPLETE"
    printf '%d consumer(s): finished %d/%d%s in %.2f s (first at %.2f s); exit status %s%s\n' \
        "$procs" "$fin" "$ops_n" "${others:+ (also $others)}" "$last" "$first" "$codes" \
        "$note"
    printf '  TMDB: %s requests, %s answered 429 by the window; at most %s accepted in any %d ms\n' \
        "${requests:-?}" "${limited:-?}" "${peak:-?}" "$window_ms"
    [ "${spans:--}" = - ] || printf '  the %d requests accepted before each 429 spanned (ms): %s\n' \
        "$ceiling" "$spans"
    printf '  budget: %d statements; the consumers reported %s requests and %s 429s; completed per process: %s\n' \
        "$((st1 - st0))" "$rep_req" "$rep_lim" "${per_proc:-none}"
    local logs=("$work"/consumer."$procs".*.log) held
    held=$(cat "${logs[@]}" | grep -c 'rate limited: ' || true)
    printf '  consumer logs: %d lines, %d "rate limited" (a 429 held its claim)\n' \
        "$(cat "${logs[@]}" | wc -l)" "$held"
    # What the consumers said when anything went wrong, most frequent first, with the
    # times, ids and numbers that make every line unique blurred; and how any consumer that
    # did not exit 0 on SIGTERM ended.
    if [ "$held" -gt 0 ] || [ -n "$note" ] || [ "$failed_n" -gt 0 ] ||
        [ "$retried_n" -gt 0 ] || grep -q -E ' (ERROR|WARN) ' "${logs[@]}"; then
        { cat "${logs[@]}" | grep -E ' (ERROR|WARN) |rate limited: ' || true; } |
            sed -E 's/^[^ ]+ //; s/op=[0-9a-f-]+/op=…/g; s/[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+Z?/T/g;
                    s/\b[0-9]+\b/#/g' | cut -c1-240 | sort | uniq -c | sort -rn | head -n 5 |
            sed 's/^/    /'
    fi
    if [ "$held" -gt 0 ]; then
        printf '    first and last "rate limited" lines:\n'
        { cat "${logs[@]}" | grep 'rate limited: ' || true; } | sort | sed -n '1p;$p' |
            cut -c1-240 | sed 's/^/      /'
    fi
    i=0
    for rc in ${codes//,/ }; do
        i=$((i + 1))
        [ "$rc" -ne 0 ] || continue
        printf '    consumer %d exited %d; its last lines:\n' "$i" "$rc"
        tail -n 3 "$work/consumer.$procs.$i.log" | cut -c1-240 | sed 's/^/      /'
    done
    printf '\n'

    table+=("$(printf '%9d %6d %8.2f %7s %8s%% %8s %6s %6s%% %9s %6d %7d' \
        "$procs" "$fin" "$last" "$rate" "$pct" "${requests:-?}" "${limited:-?}" "$share" \
        "$per_req" "$failed_n" "$retried_n")")

    admin_psql "DROP DATABASE IF EXISTS $name WITH (FORCE)" >/dev/null
}

for p in $procs_set; do
    drain "$p"
done

# ---- the table ------------------------------------------------------------------------
printf '%9s %6s %8s %7s %9s %8s %6s %7s %9s %6s %7s\n' consumers ops 'drain s' 'ops/s' \
    "% of $ceiling/s" 'TMDB req' '429s' '429 %' 'stmts/req' failed retried
for line in "${table[@]}"; do printf '%s\n' "$line"; done
printf '%s\n' "(drain: from starting the consumers to the last operation finished; ops/s: operations" \
    "finished / drain s; TMDB req and 429s: as the fake counted them; stmts/req: calls of" \
    "tmdbq_rate_lease per TMDB request; failed: status failed; retried: retry_count > 0)"
