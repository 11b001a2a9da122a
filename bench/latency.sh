#!/usr/bin/env bash
# Where the time of one operation goes, from the enqueue call to the ack, at a steady
# pace. Prints figures, never pass/fail.
#
# One tmdbq-consumer (its defaults, TMDBQ_LOG_LEVEL=debug for its per-operation timing
# line) runs against a fake TMDB that answers at once; bench/paced.c (built here against
# build/'s libtmdbq) enqueues BENCH_WARMUP operations, then BENCH_N more at BENCH_RATE a
# second, one tmdbq_enqueue call each, over BENCH_LISTS lists. For the BENCH_N, from the
# producer's clock, the consumer's timing line and the rows (all wall clock, one machine),
# p50 and p99 in milliseconds of:
#   enqueue call      tmdbq_enqueue, start to return: the INSERT's commit, the publish and
#                     its confirm
#   to delivery       the call's start to the consumer reading the message
#   claim             reading the message to the claim's answer (tmdbq_claim)
#   TMDB call         the claim's answer to TMDB's answer, decided
#   finish            the decision to the outcome's commit (tmdbq_finish)
#   ack               the commit to the ack sent (and any hand-on published)
#   enqueue->done     the row's updated_at - inserted_at, as the peer benchmark measures it
#   call->recorded    the call's start to the outcome's commit, as an application sees it
#
# Everything runs in a database of its own (tmdbq_bench_latency, dropped at the end) under
# the AMQP prefix tmdbq_bench_latency (its queues and exchanges deleted at the end); every
# process it starts is stopped by its PID. About 30 s at the defaults. Run it on an
# otherwise quiet machine.
#
# Knobs: BENCH_N (1500), BENCH_RATE (100), BENCH_WARMUP (100), BENCH_LISTS (50),
# TMDBQ_BENCH_CONSUMER (build/consumer/tmdbq-consumer), BENCH_CONSUMER_ARGS (empty: e.g.
# "--concurrency 2"), TMDBQ_BENCH_PG (postgresql://tmdbq:tmdbq@localhost:5432),
# TMDBQ_BENCH_RABBIT_API (http://localhost:15672/api, guest/guest).
set -euo pipefail
export LC_ALL=C

cd "$(dirname "${BASH_SOURCE[0]}")/.."

n=${BENCH_N:-1500}
rate=${BENCH_RATE:-100}
warmup=${BENCH_WARMUP:-100}
lists_n=${BENCH_LISTS:-50}
consumer_args=${BENCH_CONSUMER_ARGS:-}
pg_base=${TMDBQ_BENCH_PG:-postgresql://tmdbq:tmdbq@localhost:5432}
rabbit_api=${TMDBQ_BENCH_RABBIT_API:-http://localhost:15672/api}
bench_db=tmdbq_bench_latency
prefix=tmdbq_bench_latency
tmdbq=build/producer/tmdbq
consumer=${TMDBQ_BENCH_CONSUMER:-build/consumer/tmdbq-consumer}
fake=build/tests/fake_tmdb/fake-tmdb
api_key=bench-latency-api-key
first_list=6001

# shellcheck source=bench/lib.sh disable=SC1091
. bench/lib.sh
posint BENCH_N "$n"
posint BENCH_RATE "$rate"
posint BENCH_WARMUP "$warmup"
posint BENCH_LISTS "$lists_n"

for b in "$tmdbq" "$consumer" "$fake" build/producer/lib/libtmdbq.so; do
    if [ ! -e "$b" ]; then
        say "$b is missing: building with cmake --build build"
        cmake --build build -j2 >&2 || die "the build failed"
        break
    fi
done
command -v curl >/dev/null || die "curl is needed"

work=$(mktemp -d /tmp/tmdbq-bench-latency.XXXXXX)
fake_pid=""
consumer_pid=""

admin_psql() { psql -X -q -t -A -v ON_ERROR_STOP=1 "$pg_base/postgres" -c "$1"; }
db_psql() { psql -X -q -t -A -F ' ' -v ON_ERROR_STOP=1 "$TMDBQ_DATABASE_URL" -c "$1"; }
rabbit_names() {
    curl -s -m 10 -u guest:guest "$rabbit_api/$1" | grep -o '"name":"[^"]*"' |
        sed 's/^"name":"//; s/"$//' | grep "^$prefix\\." || true
}
cleanup() {
    set +e
    local p x
    for p in "$consumer_pid" "$fake_pid"; do
        [ -n "$p" ] && kill -TERM "$p" 2>/dev/null && wait "$p" 2>/dev/null
    done
    say "cleaning up: database $bench_db, AMQP prefix $prefix"
    admin_psql "DROP DATABASE IF EXISTS $bench_db WITH (FORCE)" >/dev/null
    for x in $(rabbit_names 'queues/%2F?columns=name'); do
        curl -s -o /dev/null -m 10 -u guest:guest -X DELETE "$rabbit_api/queues/%2F/$x"
    done
    for x in $(rabbit_names 'exchanges/%2F?columns=name'); do
        curl -s -o /dev/null -m 10 -u guest:guest -X DELETE "$rabbit_api/exchanges/%2F/$x"
    done
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

cc -O2 -Wall -Iproducer -o "$work/paced" bench/paced.c -Lbuild/producer/lib -ltmdbq \
    -Wl,-rpath,"$PWD/build/producer/lib" || die "could not build bench/paced.c"

export TMDBQ_DATABASE_URL="$pg_base/$bench_db"
export TMDBQ_AMQP_PREFIX=$prefix
say "creating database $bench_db"
admin_psql "DROP DATABASE IF EXISTS $bench_db WITH (FORCE)" >/dev/null
admin_psql "CREATE DATABASE $bench_db" >/dev/null
timeout 60 "$tmdbq" migrate >&2

fake_start "$fake" "$work" "$api_key"
export TMDB_API_URL=$fake_url TMDB_API_KEY=$api_key TMDBQ_TMDB_RATE=0
unset TMDB_ACCESS_TOKEN
timeout 30 "$tmdbq" session set --user 1 --session-id bench-session-1 >/dev/null
curl -s -f -o /dev/null -m 10 "$fake_url/__control/users" \
    -d '{"user_id":1,"session_id":"bench-session-1"}' || die "fake set-up failed"
for ((l = 0; l < lists_n; l++)); do
    curl -s -f -o /dev/null -m 10 "$fake_url/__control/lists" \
        -d "{\"id\":$((first_list + l)),\"owner\":1}" || die "fake set-up failed"
done

# shellcheck disable=SC2086 # the arguments are words
TMDBQ_LOG_LEVEL=debug timeout 600 "$consumer" $consumer_args 2>"$work/consumer.log" &
consumer_pid=$!
for _ in $(seq 100); do
    grep -q 'ready' "$work/consumer.log" && break
    kill -0 "$consumer_pid" 2>/dev/null || die "the consumer exited: $(tail -5 "$work/consumer.log")"
    sleep 0.1
done

say "warm-up: $warmup operations at $rate/s"
timeout 600 "$work/paced" "$warmup" "$rate" "$lists_n" "$first_list" 1000000 \
    >/dev/null || die "the warm-up failed"
say "measuring: $n operations at $rate/s"
timeout 600 "$work/paced" "$n" "$rate" "$lists_n" "$first_list" 2000000 \
    >"$work/producer.txt" || die "the paced producer failed"
total=$((n + warmup))
for _ in $(seq 300); do
    done_n=$(db_psql "SELECT count(*) FROM queued_list_operations WHERE status = 'completed'")
    [ "$done_n" -ge "$total" ] && break
    sleep 0.1
done
[ "$done_n" -ge "$total" ] || say "only $done_n of $total completed within 30 s"
kill -TERM "$consumer_pid" 2>/dev/null || true
wait "$consumer_pid" 2>/dev/null || true
consumer_pid=""

db_psql "SELECT id, (extract(epoch FROM inserted_at) * 1000000)::bigint,
                (extract(epoch FROM updated_at) * 1000000)::bigint
           FROM queued_list_operations WHERE status = 'completed'" >"$work/rows.txt"
# "... timing (wall clock, us): received=R claimed=C called=T recorded=F acked=A op=ID"
sed -n 's/.*timing (wall clock, us): received=\([0-9]*\) claimed=\([0-9]*\) called=\([0-9]*\) recorded=\([0-9]*\) acked=\([0-9]*\) op=\([0-9a-f-]*\).*/\6 \1 \2 \3 \4 \5/p' \
    "$work/consumer.log" >"$work/timing.txt"

# One line per measured operation: "stage value_ms" for each stage; then p50/p99.
awk -v out="$work/stages.txt" '
    FILENAME ~ /producer/ { start[$1] = $2; ret[$1] = $3; next }
    FILENAME ~ /timing/ { recv[$1] = $2; claim[$1] = $3; call[$1] = $4; fin[$1] = $5; ack[$1] = $6; next }
    FILENAME ~ /rows/ { ins[$1] = $2; upd[$1] = $3; next }
    END {
        for (id in start) {
            if (!(id in recv) || !(id in ins)) { missing++; continue }
            printf "1_enqueue_call %.3f\n", (ret[id] - start[id]) / 1000 > out
            printf "2_to_delivery %.3f\n", (recv[id] - start[id]) / 1000 > out
            printf "3_claim %.3f\n", (claim[id] - recv[id]) / 1000 > out
            printf "4_tmdb_call %.3f\n", (call[id] - claim[id]) / 1000 > out
            printf "5_finish %.3f\n", (fin[id] - call[id]) / 1000 > out
            printf "6_ack %.3f\n", (ack[id] - fin[id]) / 1000 > out
            printf "7_enqueue_to_done %.3f\n", (upd[id] - ins[id]) / 1000 > out
            printf "8_call_to_recorded %.3f\n", (fin[id] - start[id]) / 1000 > out
            measured++
        }
        printf "bench: %d operations measured, %d without a timing line or row\n", measured, missing > "/dev/stderr"
    }' "$work/producer.txt" "$work/timing.txt" "$work/rows.txt"

printf '\nlatency of one operation at %s/s (%s operations; ms, wall clock)\n' "$rate" "$n"
printf '%-20s %8s %8s\n' stage p50 p99
for s in 1_enqueue_call 2_to_delivery 3_claim 4_tmdb_call 5_finish 6_ack \
    7_enqueue_to_done 8_call_to_recorded; do
    grep "^$s " "$work/stages.txt" | cut -d' ' -f2 | sort -g | awk -v name="${s#*_}" '
        { v[NR] = $1 }
        END {
            if (NR == 0) { printf "%-20s %8s %8s\n", name, "-", "-"; exit }
            p50 = v[int((NR - 1) * 0.50) + 1]; p99 = v[int((NR - 1) * 0.99) + 1]
            printf "%-20s %8.2f %8.2f\n", name, p50, p99
        }'
done
