#!/usr/bin/env bash
# What the reaper's two heavy jobs cost. Prints figures, never pass/fail:
#   (a) cleanup: BENCH_CLEANUP_ROWS (1,000,000) completed operations 40 days old, written
#       with generate_series straight into queued_list_operations (next to 10,000 young
#       completed and 10,000 old failed rows, which must stay), then one
#       `tmdbq-reaper --once` with TMDBQ_RETENTION=30d: the time, the rows per second, the
#       number of batches (one transaction of at most 1,000 rows each) and the longest
#       single batch, which is the longest that any lock of the cleanup was held; and
#       meanwhile, a pgbench client enqueueing through tmdbq_enqueue_batch (the real
#       enqueue) with its longest and 99th-percentile latency, to show what other work
#       sees while the cleanup runs;
#   (b) relay: BENCH_RELAY_ROWS (20,000) pending operations never published (as after a
#       broker outage), each on a list of its own so none waits behind another, then one
#       `tmdbq-reaper --once`: the sweep's time and the publishes per second, every one
#       confirmed by the broker and marked published (checked in the database and in the
#       work queue's depth).
# Everything runs in a database of its own (tmdbq_bench_reaper, dropped at the end) and
# under the AMQP prefix tmdbq_bench_reaper (its queues and exchanges are deleted at the end).
# Every process it starts is bounded by a timeout.
#
# Knobs: BENCH_CLEANUP_ROWS (1000000), BENCH_RELAY_ROWS (20000), BENCH_BUILD (build: the
# build directory holding producer/tmdbq and reaper/tmdbq-reaper),
# TMDBQ_BENCH_PG (postgresql://tmdbq:tmdbq@localhost:5432: server and role to use),
# TMDBQ_BENCH_RABBIT_API (http://localhost:15672/api, guest/guest: queue depth, cleanup).
set -euo pipefail
export LC_ALL=C # EPOCHREALTIME and awk with a decimal point

cd "$(dirname "${BASH_SOURCE[0]}")/.."

cleanup_n=${BENCH_CLEANUP_ROWS:-1000000}
relay_n=${BENCH_RELAY_ROWS:-20000}
build=${BENCH_BUILD:-build}
pg_base=${TMDBQ_BENCH_PG:-postgresql://tmdbq:tmdbq@localhost:5432}
rabbit_api=${TMDBQ_BENCH_RABBIT_API:-http://localhost:15672/api}
bench_db=tmdbq_bench_reaper
prefix=tmdbq_bench_reaper
tmdbq=$build/producer/tmdbq
reaper=$build/reaper/tmdbq-reaper
pgbench=/usr/lib/postgresql/15/bin/pgbench
[ -x "$pgbench" ] || pgbench=pgbench

say() { printf 'bench: %s\n' "$*" >&2; }
die() { printf 'bench: error: %s\n' "$*" >&2; exit 1; }

# Seconds since an EPOCHREALTIME reading, and a rate, with awk for the fractions.
elapsed() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.3f", b - a }'; }
rate() { awk -v n="$1" -v s="$2" 'BEGIN { printf "%.0f", (s > 0 ? n / s : 0) }'; }
# The value of key=N in the reaper's sweep line.
field() { sed -n "s/.* sweep:.*[ ]$1=\\([0-9]*\\).*/\\1/p" "$2" | tail -n 1; }

if [ ! -x "$tmdbq" ] || [ ! -x "$reaper" ]; then
    say "$tmdbq or $reaper is missing: building with scripts/build.sh $build"
    bash scripts/build.sh "$build" >&2
fi

admin_psql() { psql -X -q -t -A -v ON_ERROR_STOP=1 "$pg_base/postgres" -c "$1"; }
bench_psql() { psql -X -q -t -A -v ON_ERROR_STOP=1 "$pg_base/$bench_db" -c "$1"; }

work=$(mktemp -d /tmp/tmdbq-bench-reaper.XXXXXX)
pgbench_pid=

cleanup() {
    set +e
    if [ -n "$pgbench_pid" ]; then
        kill "$pgbench_pid" 2>/dev/null
        wait "$pgbench_pid" 2>/dev/null
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
    if command -v curl >/dev/null 2>&1; then
        local x
        for x in work retry dead; do
            curl -s -o /dev/null -m 10 -u guest:guest -X DELETE \
                "$rabbit_api/exchanges/%2F/$prefix.$x"
        done
    fi
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

export TMDBQ_DATABASE_URL="$pg_base/$bench_db"
export TMDBQ_AMQP_PREFIX=$prefix
export TMDBQ_LOG_LEVEL=info

say "creating database $bench_db"
admin_psql "DROP DATABASE IF EXISTS $bench_db WITH (FORCE)" >/dev/null
admin_psql "CREATE DATABASE $bench_db" >/dev/null
timeout 60 "$tmdbq" migrate >&2

pg_version=$(bench_psql 'SHOW server_version')
printf 'tmdbq-reaper benchmark, %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)"
printf 'machine: %s CPUs; PostgreSQL %s (synchronous_commit=%s)\n\n' "$(nproc)" \
    "${pg_version%% *}" "$(bench_psql 'SHOW synchronous_commit')"

# ---- (a) cleanup ------------------------------------------------------------------------
say "(a) writing $cleanup_n old completed rows (and 20,000 that must stay)"
start=$EPOCHREALTIME
bench_psql "
INSERT INTO queued_list_operations (operation_type, tmdb_user_id, tmdb_list_id,
    operation_data, status, inserted_at, updated_at, published_at, result)
SELECT 'add_movie', 1 + g % 1000, 1 + g % 50000, jsonb_build_object('movie_id', g),
       'completed', now() - interval '41 days', now() - interval '40 days'
                    + g * interval '1 millisecond', now() - interval '41 days', NULL
  FROM generate_series(1, $cleanup_n) g;
INSERT INTO queued_list_operations (operation_type, tmdb_user_id, tmdb_list_id,
    operation_data, status, updated_at)
SELECT 'add_movie', 1, 1 + g % 50000, jsonb_build_object('movie_id', g), 'completed',
       now() - interval '29 days' FROM generate_series(1, 10000) g;
INSERT INTO queued_list_operations (operation_type, tmdb_user_id, tmdb_list_id,
    operation_data, status, updated_at, error_message, error_kind)
SELECT 'add_movie', 1, 1 + g % 50000, jsonb_build_object('movie_id', g), 'failed',
       now() - interval '400 days', 'bench', 'permanent' FROM generate_series(1, 10000) g;"
bench_psql 'VACUUM ANALYZE queued_list_operations'
say "(a) written and vacuumed in $(elapsed "$start") s"
table_mb=$(bench_psql "SELECT pg_total_relation_size('queued_list_operations') / 1048576")

# Meanwhile: one client enqueueing through the real enqueue function, each on a list the
# cleanup does not touch, with every transaction's latency logged.
cat >"$work/enqueue.sql" <<'EOF'
\set list random(900000, 999999)
\set mid random(1, 2000000000)
SELECT * FROM tmdbq_enqueue_batch(jsonb_build_array(jsonb_build_object('type', 'add_movie', 'user', 7, 'list', :list, 'data', jsonb_build_object('movie_id', :mid))));
EOF
# pgbench writes its per-transaction log when it exits, so it runs in rounds of a second
# until the cleanup is over.
(
    cd "$work"
    while [ ! -e "$work/cleanup.done" ]; do
        timeout 60 "$pgbench" -n -c 1 -j 1 -T 1 -l --log-prefix=probe \
            -f "$work/enqueue.sql" "$pg_base/$bench_db" >>"$work/pgbench.out" 2>&1 || break
    done
) &
pgbench_pid=$!
sleep 2

say "(a) tmdbq-reaper --once, TMDBQ_RETENTION=30d"
start=$EPOCHREALTIME
TMDBQ_RETENTION=30d timeout 900 "$reaper" --once 2>"$work/cleanup.log" ||
    { cat "$work/cleanup.log" >&2; die "tmdbq-reaper --once failed"; }
cleanup_s=$(elapsed "$start")
touch "$work/cleanup.done"
wait "$pgbench_pid" 2>/dev/null || true
pgbench_pid=

deleted=$(field deleted "$work/cleanup.log")
batches=$(field cleanup_batches "$work/cleanup.log")
longest=$(field longest_batch_ms "$work/cleanup.log")
sweep_ms=$(field ms "$work/cleanup.log")
left_old=$(bench_psql "SELECT count(*) FROM queued_list_operations
                        WHERE status = 'completed' AND updated_at < now() - interval '30 days'")
kept=$(bench_psql "SELECT count(*) FROM queued_list_operations WHERE tmdb_user_id <> 7")
printf '(a) cleanup: %s rows of %s MB (table and indexes) deleted in %s s (sweep %s ms) = %s rows/s\n' \
    "$deleted" "$table_mb" "$cleanup_s" "$sweep_ms" "$(rate "$deleted" "$cleanup_s")"
printf '    %s batches of at most 1,000 rows, one transaction each; longest batch (the longest any lock was held): %s ms\n' \
    "$batches" "$longest"
printf '    left: %s old completed rows (want 0); kept: %s young completed and old failed rows (want 20000)\n' \
    "$left_old" "$kept"
if ls "$work"/probe* >/dev/null 2>&1; then
    # pgbench's log: client, transaction, latency in microseconds, ...
    cat "$work"/probe* | awk '{ print $3 }' | sort -n >"$work/lat"
    n=$(wc -l <"$work/lat")
    if [ "$n" -gt 0 ]; then
        p99=$(awk -v n="$n" 'NR == int(n * 0.99) + 1 { printf "%.1f", $1 / 1000; exit }' "$work/lat")
        max=$(tail -n 1 "$work/lat" | awk '{ printf "%.1f", $1 / 1000 }')
        printf '    meanwhile, one client enqueueing: %s enqueues, p99 %s ms, longest %s ms\n' \
            "$n" "$p99" "$max"
    fi
else
    printf '    (no pgbench log: the concurrent enqueue probe did not run)\n'
fi

# ---- (b) relay --------------------------------------------------------------------------
say "(b) writing $relay_n unpublished pending rows, one list each"
bench_psql "DELETE FROM queued_list_operations;
INSERT INTO queued_list_operations (operation_type, tmdb_user_id, tmdb_list_id,
    operation_data, updated_at)
SELECT 'add_movie', 1, 2000000 + g, jsonb_build_object('movie_id', g),
       now() - interval '1 minute' FROM generate_series(1, $relay_n) g;"
bench_psql 'VACUUM ANALYZE queued_list_operations'

say "(b) tmdbq-reaper --once"
start=$EPOCHREALTIME
timeout 900 "$reaper" --once 2>"$work/relay.log" ||
    { cat "$work/relay.log" >&2; die "tmdbq-reaper --once failed"; }
relay_s=$(elapsed "$start")
relayed=$(field relayed "$work/relay.log")
relay_ms=$(field ms "$work/relay.log")
marked=$(bench_psql "SELECT count(*) FROM queued_list_operations WHERE published_at IS NOT NULL")
depth='?'
if command -v curl >/dev/null 2>&1; then
    for _ in 1 2 3 4 5 6 7 8 9 10; do
        depth=$(curl -s -m 10 -u guest:guest "$rabbit_api/queues/%2F/$prefix.work" |
            sed -n 's/.*"messages":\([0-9]*\).*/\1/p' | head -n 1)
        [ "$depth" = "$relay_n" ] && break
        sleep 1
    done
fi
printf '(b) relay: %s of %s published with confirms in a sweep of %s ms = %s publishes/s (whole process %s s)\n' \
    "$relayed" "$relay_n" "$relay_ms" \
    "$(awk -v n="$relayed" -v ms="$relay_ms" 'BEGIN { printf "%.0f", (ms > 0 ? n * 1000 / ms : 0) }')" \
    "$relay_s"
printf '    marked published in PostgreSQL: %s; messages in %s.work: %s\n' "$marked" "$prefix" \
    "${depth:-?}"
