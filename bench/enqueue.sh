#!/usr/bin/env bash
# How fast tmdbq takes operations in, next to what PostgreSQL alone does on this machine.
# Prints figures, never pass/fail:
#   (a) single `tmdbq enqueue add_movie` calls per second, over 200 sequential calls
#       (each a process: connect to PostgreSQL and RabbitMQ, insert, publish, confirm);
#   (b) bulk `tmdbq enqueue --file F --json` operations per second, over 10,000 add_movie
#       lines (the file is generated first; only the enqueue is timed);
#   (c) pgbench inserting one row per transaction into a scratch copy of
#       queued_list_operations (same columns, defaults, checks and indexes), with 1 and 4
#       clients, and the ratio of (b) to it.
# Everything runs in a database of its own (tmdbq_bench, dropped at the end) and under the
# AMQP prefix tmdbq_bench (its queues and exchanges are deleted at the end).
#
# Knobs: BENCH_SINGLE (200), BENCH_BULK (10000), BENCH_PGBENCH_SECONDS (10),
# TMDBQ_BENCH_PG (postgresql://tmdbq:tmdbq@localhost:5432: server and role to use),
# TMDBQ_BENCH_RABBIT_API (http://localhost:15672/api, guest/guest: for the cleanup).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

single_n=${BENCH_SINGLE:-200}
bulk_n=${BENCH_BULK:-10000}
pgbench_s=${BENCH_PGBENCH_SECONDS:-10}
pg_base=${TMDBQ_BENCH_PG:-postgresql://tmdbq:tmdbq@localhost:5432}
rabbit_api=${TMDBQ_BENCH_RABBIT_API:-http://localhost:15672/api}
bench_db=tmdbq_bench
prefix=tmdbq_bench
tmdbq=build/producer/tmdbq
pgbench=/usr/lib/postgresql/15/bin/pgbench
[ -x "$pgbench" ] || pgbench=pgbench

say() { printf 'bench: %s\n' "$*" >&2; }
die() { printf 'bench: error: %s\n' "$*" >&2; exit 1; }

# Seconds since an EPOCHREALTIME reading, and a rate, with awk for the fractions.
elapsed() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.3f", b - a }'; }
rate() { awk -v n="$1" -v s="$2" 'BEGIN { printf "%.1f", (s > 0 ? n / s : 0) }'; }

if [ ! -x "$tmdbq" ]; then
    say "$tmdbq is missing: building it with scripts/setup.sh"
    bash scripts/setup.sh >&2
fi

admin_psql() {
    psql -X -q -t -A -v ON_ERROR_STOP=1 "$pg_base/postgres" -c "$1"
}

work=$(mktemp -d /tmp/tmdbq-bench.XXXXXX)

cleanup() {
    set +e
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

say "creating database $bench_db"
admin_psql "DROP DATABASE IF EXISTS $bench_db WITH (FORCE)" >/dev/null
admin_psql "CREATE DATABASE $bench_db" >/dev/null
timeout 60 "$tmdbq" migrate >&2

pg_version=$(psql -X -t -A "$TMDBQ_DATABASE_URL" -c 'SHOW server_version')
sync_commit=$(psql -X -t -A "$TMDBQ_DATABASE_URL" -c 'SHOW synchronous_commit')
printf 'tmdbq enqueue benchmark, %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)"
printf 'machine: %s CPUs; PostgreSQL %s (synchronous_commit=%s); RabbitMQ at %s\n\n' \
    "$(nproc)" "${pg_version%% *}" "$sync_commit" \
    "$(printf '%s' "${TMDBQ_AMQP_URL:-amqp://guest:***@localhost:5672/%2f}" |
        sed -E 's#//([^:/@]*):[^@]*@#//\1:***@#')"

# (a) one process per operation: list 9001, movies 1000001...
say "(a) $single_n single enqueues"
published=0
start=$EPOCHREALTIME
for ((i = 1; i <= single_n; i++)); do
    out=$(timeout 10 "$tmdbq" enqueue add_movie --user 1 --list 9001 \
        --movie $((1000000 + i)) --json) ||
        die "single enqueue $i failed (exit status $?)"
    case $out in *'"published":true'*) published=$((published + 1)) ;; esac
done
single_s=$(elapsed "$start")
single_rate=$(rate "$single_n" "$single_s")
printf '(a) single enqueue:  %6d calls in %7s s = %9s calls/s   (published %d/%d)\n' \
    "$single_n" "$single_s" "$single_rate" "$published" "$single_n"

# (b) one process, one file: 100 lists (9100..9199), movies 2000001...
say "(b) bulk enqueue of $bulk_n operations"
awk -v n="$bulk_n" 'BEGIN {
    for (i = 1; i <= n; i++)
        printf "{\"type\":\"add_movie\",\"user\":1,\"list\":%d,\"movie\":%d}\n",
               9100 + i % 100, 2000000 + i
}' >"$work/bulk.jsonl"
start=$EPOCHREALTIME
rc=0
timeout 900 "$tmdbq" enqueue --file "$work/bulk.jsonl" --json >"$work/bulk.out" || rc=$?
bulk_s=$(elapsed "$start")
[ "$rc" -eq 0 ] || die "bulk enqueue failed (exit status $rc)"
ok=$(grep -c '"ok":true' "$work/bulk.out" || true)
published=$(grep -c '"published":true' "$work/bulk.out" || true)
bulk_rate=$(rate "$bulk_n" "$bulk_s")
printf '(b) bulk enqueue:    %6d ops   in %7s s = %9s ops/s     (ok %d, published %d)\n' \
    "$bulk_n" "$bulk_s" "$bulk_rate" "$ok" "$published"

# (c) the same insert with nothing around it: no validation, deduplication or publish.
say "(c) pgbench, ${pgbench_s}s with 1 client and ${pgbench_s}s with 4 clients"
psql -X -q -v ON_ERROR_STOP=1 "$TMDBQ_DATABASE_URL" \
    -c 'CREATE TABLE bench_ops (LIKE queued_list_operations INCLUDING ALL)'
cat >"$work/insert.sql" <<'EOF'
\set list random(9100, 9199)
\set mid random(3000000, 2000000000)
INSERT INTO bench_ops (operation_type, tmdb_user_id, tmdb_list_id, operation_data)
VALUES ('add_movie', 1, :list, json_build_object('movie_id', :mid)::jsonb);
EOF
declare -A tps
for c in 1 4; do
    timeout $((pgbench_s + 60)) "$pgbench" -n -f "$work/insert.sql" -c "$c" -j "$c" \
        -T "$pgbench_s" "$TMDBQ_DATABASE_URL" >"$work/pgbench.$c.out" 2>&1 ||
        { cat "$work/pgbench.$c.out" >&2; die "pgbench -c $c failed"; }
    tps[$c]=$(awk '/^tps = / { printf "%.1f", $3; exit }' "$work/pgbench.$c.out")
    printf '(c) pgbench -c %d:     one INSERT per transaction     = %9s tps\n' \
        "$c" "${tps[$c]}"
done

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }'; }
printf '\nbulk / pgbench -c 1 = %s    bulk / pgbench -c 4 = %s\n' \
    "$(ratio "$bulk_rate" "${tps[1]}")" "$(ratio "$bulk_rate" "${tps[4]}")"
printf '%s\n' "(pgbench commits every row; the bulk enqueue inserts a batch of lines per" \
    "statement and transaction, and also publishes every id with a publisher confirm)"
