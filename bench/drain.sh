#!/usr/bin/env bash
# How fast tmdbq-consumer drains a backlog, next to what its collaborators do alone.
# Prints figures, never pass/fail:
#   (a) the fake TMDB alone: BENCH_OPS add_item requests with curl over keep-alive, one
#       connection and four, and the fake's CPU per request (it is not the bottleneck when
#       it can answer several times faster than the consumers ask);
#   (b) a sweep: one consumer process draining BENCH_SWEEP_OPS operations with each
#       --concurrency of BENCH_SWEEP, to show which concurrency gives the best figure;
#   (c) the drain: a backlog of BENCH_OPS add_movie operations (BENCH_LISTS lists of
#       BENCH_USERS users, distinct movies, so no duplicates), enqueued in bulk with
#       `tmdbq enqueue --file`, then drained with `tmdbq-consumer --drain` by 1, 2 and 4
#       processes (BENCH_PROCS) of --concurrency BENCH_CONCURRENCY each; the backlog is made
#       again for every run and the enqueue has finished before the consumers start;
#   (d) pgbench doing the least database work an operation needs (a claim UPDATE by id
#       returning the row, then a complete UPDATE) on a copy of the table holding BENCH_OPS
#       pending rows, and then the consumer's own SQL functions (tmdbq_claim, tmdbq_finish)
#       on the real table, with 1, 2 and 4 clients; one pgbench "transaction" is one
#       operation (two statements, two commits).
# For every drain, from the rows: operations per second from the first completion to the
# last (min/max updated_at of the completed rows), p50/p99 of updated_at - inserted_at and
# of updated_at - the moment the consumers were started; per consumer process, from
# /usr/bin/time: peak RSS and CPU (user+sys) per operation, and the largest private
# (anonymous) RSS seen; and the CPU per operation spent meanwhile, from /proc, by the
# PostgreSQL backends serving this benchmark, by the whole PostgreSQL server and the RabbitMQ
# server (those two count whatever else uses them meanwhile) and by the fake, and how busy
# the machine was. Run it on an otherwise quiet machine: everything shares its CPUs.
#
# Everything runs in a database of its own (tmdbq_bench_drain, dropped at the end), under the
# AMQP prefix tmdbq_bench_drain (its queues and exchanges are deleted at the end), against a
# fake TMDB this script starts on loopback and stops at the end. Every process it starts is
# bounded by a timeout and stopped by its PID; consumers that make no TMDB request for
# BENCH_STALL seconds are stopped early. Takes about 4 minutes at the defaults on 2 CPUs.
#
# Knobs: BENCH_OPS (20000), BENCH_LISTS (200; a multiple of 4 dividing BENCH_OPS),
# BENCH_USERS (4), BENCH_PROCS ("1 2 4"), BENCH_CONCURRENCY (2), BENCH_PREFETCH (empty: the
# consumer's default), BENCH_SWEEP ("1 2 4 8 16"; empty skips it), BENCH_SWEEP_OPS (10000),
# BENCH_DRAIN_TIMEOUT (120 s per drain; then the consumers are stopped and the partial
# figures printed), BENCH_STALL (15: seconds without a TMDB request after which the
# consumers are stopped early), BENCH_LOG_LEVEL (the consumers' TMDBQ_LOG_LEVEL, default info),
# BENCH_SKIP ("fake sweep drain pgbench": parts to leave out),
# TMDBQ_BENCH_CONSUMER (build/consumer/tmdbq-consumer: e.g. another build to compare),
# TMDBQ_BENCH_PG (postgresql://tmdbq:tmdbq@localhost:5432: server and role to use),
# BENCH_PG_PARAMS (empty: libpq URL parameters for the benchmark's database URL, e.g.
# sslmode=disable to compare with the default sslmode=prefer, which is TLS when the server
# has ssl on),
# TMDBQ_BENCH_RABBIT_API (http://localhost:15672/api, guest/guest: queue purge and cleanup).
set -euo pipefail
export LC_ALL=C # EPOCHREALTIME and awk with a decimal point

cd "$(dirname "${BASH_SOURCE[0]}")/.."

ops_n=${BENCH_OPS:-20000}
lists_n=${BENCH_LISTS:-200}
users_n=${BENCH_USERS:-4}
procs_set=${BENCH_PROCS:-1 2 4}
conc=${BENCH_CONCURRENCY:-2}
prefetch=${BENCH_PREFETCH:-}
sweep_set=${BENCH_SWEEP-1 2 4 8 16}
sweep_n=${BENCH_SWEEP_OPS:-10000}
drain_timeout=${BENCH_DRAIN_TIMEOUT:-120}
stall_s=${BENCH_STALL:-15}
log_level=${BENCH_LOG_LEVEL:-info}
skip=${BENCH_SKIP:-}
pg_base=${TMDBQ_BENCH_PG:-postgresql://tmdbq:tmdbq@localhost:5432}
pg_params=${BENCH_PG_PARAMS:-}
rabbit_api=${TMDBQ_BENCH_RABBIT_API:-http://localhost:15672/api}
bench_db=tmdbq_bench_drain
prefix=tmdbq_bench_drain
tmdbq=build/producer/tmdbq
consumer=${TMDBQ_BENCH_CONSUMER:-build/consumer/tmdbq-consumer}
fake=build/tests/fake_tmdb/fake-tmdb
api_key=bench-drain-api-key
first_list=5001
first_movie=100000
pgbench=/usr/lib/postgresql/15/bin/pgbench
[ -x "$pgbench" ] || pgbench=pgbench

# shellcheck source=bench/lib.sh disable=SC1091
. bench/lib.sh
skipped() { case " $skip " in *" $1 "*) return 0 ;; esac; return 1; }

# Seconds since an EPOCHREALTIME reading, and a rate, with awk for the fractions.
elapsed() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.3f", b - a }'; }
rate() { awk -v n="$1" -v s="$2" 'BEGIN { printf "%.0f", (s > 0 ? n / s : 0) }'; }

posint BENCH_OPS "$ops_n"
posint BENCH_LISTS "$lists_n"
posint BENCH_USERS "$users_n"
posint BENCH_CONCURRENCY "$conc"
posint BENCH_SWEEP_OPS "$sweep_n"
posint BENCH_DRAIN_TIMEOUT "$drain_timeout"
posint BENCH_STALL "$stall_s"
[ -z "$prefetch" ] || posint BENCH_PREFETCH "$prefetch"
for v in $procs_set; do posint BENCH_PROCS "$v"; done
for v in $sweep_set; do posint BENCH_SWEEP "$v"; done
# pgbench gives each client whole lists (so no claim waits for another client's row), and
# every list the same number of rows.
[ $((lists_n % 4)) -eq 0 ] || die "BENCH_LISTS must be a multiple of 4 (pgbench -c 1, 2, 4)"
[ $((ops_n % lists_n)) -eq 0 ] || die "BENCH_OPS must be a multiple of BENCH_LISTS"

for b in "$tmdbq" "$consumer" "$fake"; do
    if [ ! -x "$b" ]; then
        say "$b is missing: building with cmake --build build"
        cmake --build build -j2 >&2 || die "the build failed"
        break
    fi
done
for b in "$tmdbq" "$consumer" "$fake"; do
    [ -x "$b" ] || die "$b is missing after the build"
done
command -v curl >/dev/null || die "curl is needed"
[ -x /usr/bin/time ] || die "/usr/bin/time (GNU time) is needed for RSS and CPU"

admin_psql() {
    psql -X -q -t -A -v ON_ERROR_STOP=1 "$pg_base/postgres" -c "$1"
}
db_psql() {
    psql -X -q -t -A -F ' ' -v ON_ERROR_STOP=1 "$TMDBQ_DATABASE_URL" "$@"
}

work=$(mktemp -d /tmp/tmdbq-bench-drain.XXXXXX)
fake_pid=""
sampler_pid=""
consumer_pids=()

rabbit_get() {
    curl -s -m 10 -u guest:guest "$rabbit_api/$1" | grep -o '"name":"[^"]*"' |
        sed 's/^"name":"//; s/"$//' | grep "^$prefix\\." || true
}
rabbit_purge() {
    local q
    for q in $(rabbit_get 'queues/%2F?columns=name'); do
        curl -s -o /dev/null -m 10 -u guest:guest -X DELETE \
            "$rabbit_api/queues/%2F/$q/contents"
    done
}

cleanup() {
    set +e
    local p
    if [ -n "$sampler_pid" ]; then
        touch "$work/sampler.stop"
        kill -TERM "$sampler_pid" 2>/dev/null && wait "$sampler_pid" 2>/dev/null
    fi
    for p in "${consumer_pids[@]}"; do
        # the timeout wrapper passes the signal on to its process group
        kill -TERM "$p" 2>/dev/null && wait "$p" 2>/dev/null
    done
    if [ -n "$fake_pid" ]; then
        kill -TERM "$fake_pid" 2>/dev/null && wait "$fake_pid" 2>/dev/null
    fi
    say "cleaning up: database $bench_db, AMQP prefix $prefix"
    admin_psql "DROP DATABASE IF EXISTS $bench_db WITH (FORCE)" >/dev/null
    local q x
    for q in $(rabbit_get 'queues/%2F?columns=name'); do
        curl -s -o /dev/null -m 10 -u guest:guest -X DELETE "$rabbit_api/queues/%2F/$q"
    done
    for x in $(rabbit_get 'exchanges/%2F?columns=name'); do
        curl -s -o /dev/null -m 10 -u guest:guest -X DELETE "$rabbit_api/exchanges/%2F/$x"
    done
    if command -v rabbitmqctl >/dev/null 2>&1 &&
        ! curl -s -o /dev/null -m 5 -u guest:guest "$rabbit_api/overview"; then
        for q in $(timeout 30 rabbitmqctl -q list_queues name 2>/dev/null |
            grep "^$prefix\\."); do
            timeout 30 rabbitmqctl -q delete_queue "$q" >/dev/null 2>&1
        done
    fi
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

export TMDBQ_DATABASE_URL="$pg_base/$bench_db${pg_params:+?$pg_params}"
export TMDBQ_AMQP_PREFIX=$prefix

say "creating database $bench_db"
admin_psql "DROP DATABASE IF EXISTS $bench_db WITH (FORCE)" >/dev/null
admin_psql "CREATE DATABASE $bench_db" >/dev/null
timeout 60 "$tmdbq" migrate >&2
rabbit_purge

# The fake TMDB, on a free loopback port.
fake_start "$fake" "$work" "$api_key"
export TMDB_API_URL=$fake_url TMDB_API_KEY=$api_key
# The drain measures tmdbq's own speed against a fake that never says no: no request budget
# (TMDBQ_TMDB_RATE=0), as against real TMDB it would be its 40 requests per second.
export TMDBQ_TMDB_RATE=0
unset TMDB_ACCESS_TOKEN

# Users 1..U own the lists round robin; each has a session in the fake and in the database.
for ((u = 1; u <= users_n; u++)); do
    timeout 30 "$tmdbq" session set --user "$u" --session-id "bench-session-$u" >/dev/null
done
# One curl, one connection: reset the fake, then its users and lists.
{
    printf 'url = "%s/__control/reset"\nrequest = "POST"\noutput = "/dev/null"\n' "$fake_url"
    printf 'write-out = "%%{http_code}\\n"\n'
    for ((u = 1; u <= users_n; u++)); do
        printf 'next\nurl = "%s/__control/users"\noutput = "/dev/null"\n' "$fake_url"
        printf 'data = "{\\"user_id\\":%d,\\"session_id\\":\\"bench-session-%d\\"}"\n' "$u" "$u"
        printf 'write-out = "%%{http_code}\\n"\n'
    done
    for ((l = 0; l < lists_n; l++)); do
        printf 'next\nurl = "%s/__control/lists"\noutput = "/dev/null"\n' "$fake_url"
        printf 'data = "{\\"id\\":%d,\\"owner\\":%d}"\n' \
            $((first_list + l)) $((1 + l % users_n))
        printf 'write-out = "%%{http_code}\\n"\n'
    done
} >"$work/fake-setup.cfg"
fake_setup() {
    local codes
    codes=$(timeout 60 curl -s -K "$work/fake-setup.cfg") || die "fake set-up failed"
    [ "$(printf '%s\n' "$codes" | grep -cv '^20[01]$' || true)" -eq 0 ] ||
        die "fake set-up answered: $(printf '%s\n' "$codes" | sort | uniq -c | tr '\n' ' ')"
}

# TMDB requests the fake received since its last reset.
fake_count() {
    curl -s -m 5 "$fake_url/__control/requests?count=1" |
        sed -n 's/.*"count":\([0-9]*\).*/\1/p'
}

# Operation i (0-based) goes to list i mod L, whose owner makes it, with movie M0 + i: the
# lists take turns, as many users' edits would, and nothing is a duplicate.
make_ops() {
    awk -v n="$1" -v nl="$lists_n" -v nu="$users_n" -v l0="$first_list" \
        -v m0="$first_movie" 'BEGIN {
        for (i = 0; i < n; i++) {
            l = i % nl
            printf "{\"type\":\"add_movie\",\"user\":%d,\"list\":%d,\"movie\":%d}\n",
                   1 + l % nu, l0 + l, m0 + i
        }
    }'
}

# CPU accounting from /proc, in ticks of utime + stime + cutime + cstime (CLK_TCK a second):
#   PostgreSQL, all of it: every `postgres` process (the postmaster's cutime holds the
#     backends that ended), so other clients of the same server count too;
#   RabbitMQ: the oldest beam.smp, the server (rabbitmqctl runs short-lived ones), so other
#     clients of the same broker count too;
#   the fake, by its PID; and the machine's busy and total ticks from /proc/stat.
# cpu_snap prints "pg mq fake busy total".
clk_tck=$(getconf CLK_TCK)
mq_pid=$(pgrep -o -x beam.smp || true)
cpu_snap() {
    local procs machine
    procs=$(cat /proc/[0-9]*/stat 2>/dev/null | awk -v fp="$fake_pid" -v mp="$mq_pid" '{
        line = $0
        comm = line; sub(/^[^(]*\(/, "", comm); sub(/\) [^)]*$/, "", comm)
        sub(/^.*\) /, "", line); split(line, f, " ")
        t = f[12] + f[13] + f[14] + f[15]
        if (comm == "postgres") pg += t
        if ($1 == mp) mq += t
        if ($1 == fp) fk += t
    } END { printf "%d %d %d", pg, (mp == "" ? -1 : mq), fk }')
    machine=$(awk '/^cpu / { b = $2 + $3 + $4 + $7 + $8 + $9; print b, b + $5 + $6; exit }' \
        /proc/stat)
    printf '%s %s\n' "$procs" "$machine"
}
# Microseconds per operation from two snapshots' field k (1 pg, 2 mq, 3 fake); "?" when
# the process was not found or restarted in between.
cpu_per_op() {
    awk -v a="$1" -v b="$2" -v k="$3" -v n="$4" -v hz="$clk_tck" 'BEGIN {
        split(a, x, " "); split(b, y, " ")
        if (x[k] < 0 || y[k] < x[k]) { printf "?"; exit }
        printf "%.0f", (n > 0 ? (y[k] - x[k]) / hz * 1e6 / n : 0) }'
}
busy_pct() {
    awk -v a="$1" -v b="$2" 'BEGIN {
        split(a, x, " "); split(b, y, " ")
        printf "%.0f", (y[5] > x[5] ? 100 * (y[4] - x[4]) / (y[5] - x[5]) : 0) }'
}

# While a drain or pgbench runs, a sampler notes every 0.5 s the CPU ticks of this
# benchmark's own PostgreSQL backends (process title "postgres: ... tmdbq_bench_drain ..."),
# which other clients of the server do not blur, and the peak and anonymous (private) RSS
# of the consumers (children of the `time` under each timeout wrapper): "b PID TICKS" and
# "c PID VMHWM_KB RSSANON_KB" lines in $work/samples.
sample_once() {
    local t c="" p stats=()
    # a backend may end between pgrep and cat (hence cat, which goes on: mawk would stop)
    for p in $(pgrep -f "^postgres: .* $bench_db " || true); do stats+=("/proc/$p/stat"); done
    if [ ${#stats[@]} -gt 0 ]; then
        cat "${stats[@]}" 2>/dev/null | awk '{
            line = $0; sub(/^.*\) /, "", line); split(line, f, " ")
            print "b", $1, f[12] + f[13] + f[14] + f[15] }'
    fi
    if [ $# -gt 0 ]; then
        t=$(IFS=,; pgrep -d , -P "$*" || true)
        [ -z "$t" ] || c=$(pgrep -d ' ' -P "$t" || true)
        for p in $c; do
            awk -v p="$p" '/^VmHWM:/ { h = $2 } /^RssAnon:/ { a = $2 }
                END { if (h != "") print "c", p, h, a + 0 }' "/proc/$p/status" 2>/dev/null ||
                true
        done
    fi
}
sampler_start() { # PIDs of the consumers' timeout wrappers, if any
    rm -f "$work/sampler.stop"
    : >"$work/samples"
    (
        while [ ! -e "$work/sampler.stop" ]; do
            sample_once "$@" >>"$work/samples"
            sleep 0.5
        done
    ) &
    sampler_pid=$!
}
sampler_stop() {
    [ -n "$sampler_pid" ] || return 0
    touch "$work/sampler.stop"
    wait "$sampler_pid" || true
    sampler_pid=""
}
# From the samples: "OWN_PG_US_PER_OP ANON_PEAK_KB" for n operations.
sampler_figures() {
    awk -v n="$1" -v hz="$clk_tck" '
        $1 == "b" && $3 > bt[$2] { bt[$2] = $3 }
        $1 == "c" && $4 > anon { anon = $4 }
        END { for (p in bt) t += bt[p]
              printf "%.0f %d\n", (n > 0 ? t / hz * 1e6 / n : 0), anon }' "$work/samples"
}

pg_version=$(db_psql -c 'SHOW server_version')
sync_commit=$(db_psql -c 'SHOW synchronous_commit')
# psql connects as the consumers do (libpq, the same URL): whether that is TLS.
# shellcheck disable=SC2016 # $$...$$ is SQL dollar quoting, not a shell expansion
pg_tls=$(db_psql -c 'SELECT CASE WHEN ssl THEN version ELSE $$off$$ END
    FROM pg_stat_ssl WHERE pid = pg_backend_pid()')
printf 'tmdbq drain benchmark, %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)"
printf 'machine: %s CPUs (%s); PostgreSQL %s (synchronous_commit=%s, TLS %s%s); RabbitMQ at %s\n' \
    "$(nproc)" "$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)" \
    "${pg_version%% *}" "$sync_commit" "$pg_tls" "${pg_params:+, $pg_params}" \
    "$(printf '%s' "${TMDBQ_AMQP_URL:-amqp://guest:***@localhost:5672/%2f}" |
        sed -E 's#//([^:/@]*):[^@]*@#//\1:***@#')"
printf 'backlog: add_movie over %d lists of %d users, distinct movies; fake TMDB answers at once\n' \
    "$lists_n" "$users_n"
code=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
[ -z "$(git status --porcelain -- common consumer migrations producer 2>/dev/null)" ] ||
    code+=" with uncommitted changes"
printf 'consumer: %s (%s; code %s), TMDBQ_LOG_LEVEL=%s, --prefetch %s\n\n' "$consumer" \
    "$(timeout 10 "$consumer" --version 2>/dev/null || echo '?')" "$code" "$log_level" \
    "${prefetch:-default}"

# ---- (a) the fake alone -------------------------------------------------------------------
fake_rate=()
fake_us=""
if ! skipped fake; then
    say "(a) fake TMDB alone: $ops_n add_item requests with curl"
    # The consumer's request: POST /3/list/L/add_item?api_key&session_id {"media_id":M}.
    awk -v n="$ops_n" -v nl="$lists_n" -v nu="$users_n" -v l0="$first_list" \
        -v m0="$first_movie" -v url="$fake_url" -v key="$api_key" 'BEGIN {
        for (i = 0; i < n; i++) {
            l = i % nl
            if (i > 0) print "next"
            printf "url = \"%s/3/list/%d/add_item?api_key=%s&session_id=bench-session-%d\"\n",
                   url, l0 + l, key, 1 + l % nu
            printf "data = \"{\\\"media_id\\\":%d}\"\n", m0 + i
            print "header = \"Content-Type: application/json\""
            print "output = \"/dev/null\""
            print "write-out = \"%{http_code}\\n\""
        }
    }' >"$work/fake-bench.cfg"
    for par in 1 4; do
        fake_setup
        s0=$(cpu_snap)
        start=$EPOCHREALTIME
        if [ "$par" -eq 1 ]; then
            timeout 300 curl -s -K "$work/fake-bench.cfg" >"$work/fake-bench.codes" ||
                die "curl against the fake failed"
        else
            timeout 300 curl -s --no-progress-meter -Z --parallel-max "$par" \
                -K "$work/fake-bench.cfg" >"$work/fake-bench.codes" ||
                die "curl against the fake failed"
        fi
        secs=$(elapsed "$start")
        s1=$(cpu_snap)
        good=$(grep -c '^201$' "$work/fake-bench.codes" || true)
        fake_rate[par]=$(rate "$ops_n" "$secs")
        us=$(cpu_per_op "$s0" "$s1" 3 "$ops_n")
        [ "$par" -ne 4 ] || fake_us=$us
        printf '(a) fake alone, curl %d connection(s): %6d requests in %7s s = %7s req/s  (201: %d; fake CPU %s us/request)\n' \
            "$par" "$ops_n" "$secs" "${fake_rate[par]}" "$good" "$us"
    done
    printf '    (curl shares the CPUs with the fake; the fake CPU per request bounds it at ~%s req/s)\n\n' \
        "$(awk -v u="$fake_us" 'BEGIN { printf "%.0f", (u > 0 ? 1e6 / u : 0) }')"
fi

# ---- one drain ----------------------------------------------------------------------------
# drain LABEL PROCS CONCURRENCY OPS: make the backlog, drain it, print the figures, and append
# a line to the final table.
table=()
drain() {
    local label=$1 procs=$2 c=$3 n=$4
    local i rc start secs s0 s1 t0 codes args
    say "drain $label: $n operations, $procs process(es) x --concurrency $c"

    db_psql -c 'TRUNCATE queued_list_operations' >/dev/null
    rabbit_purge
    fake_setup
    [ -s "$work/ops.$n.jsonl" ] || make_ops "$n" >"$work/ops.$n.jsonl"

    start=$EPOCHREALTIME
    rc=0
    timeout 600 "$tmdbq" enqueue --file "$work/ops.$n.jsonl" --json >"$work/enqueue.out" ||
        rc=$?
    secs=$(elapsed "$start")
    [ "$rc" -eq 0 ] || die "bulk enqueue failed (exit status $rc)"
    local published
    published=$(grep -c '"published":true' "$work/enqueue.out" || true)
    [ "$published" -eq "$n" ] || die "only $published of $n operations were published"
    printf '%s: enqueued %d in %s s (%s ops/s); draining with %d process(es) x --concurrency %d\n' \
        "$label" "$n" "$secs" "$(rate "$n" "$secs")" "$procs" "$c"

    args=(--drain --concurrency "$c")
    [ -z "$prefetch" ] || args+=(--prefetch "$prefetch")
    s0=$(cpu_snap)
    t0=$EPOCHREALTIME
    consumer_pids=()
    for ((i = 1; i <= procs; i++)); do
        rm -f "$work/time.$i"
        TMDBQ_LOG_LEVEL=$log_level timeout -k 10 "$drain_timeout" \
            /usr/bin/time -f '%e %U %S %M' -o "$work/time.$i" \
            "$consumer" "${args[@]}" 2>"$work/consumer.$label.$i.log" &
        consumer_pids+=($!)
    done
    sampler_start "${consumer_pids[@]}"
    # Until they have all exited; stop them early when TMDB saw no request for stall_s
    # seconds: a consumer that cannot work (e.g. a schema older than it) would otherwise hold
    # the bench until the timeout.
    local alive tick=0 seen=-1 now_count changed=$EPOCHREALTIME stalled=""
    while :; do
        alive=0
        for p in "${consumer_pids[@]}"; do
            if kill -0 "$p" 2>/dev/null; then alive=1; fi
        done
        [ "$alive" -eq 1 ] || break
        if [ $((tick % 5)) -eq 0 ]; then
            now_count=$(fake_count)
            if [ "$now_count" != "$seen" ]; then
                seen=$now_count
                changed=$EPOCHREALTIME
            elif awk -v e="$(elapsed "$changed")" -v s="$stall_s" 'BEGIN { exit !(e > s) }'; then
                stalled=" (no TMDB request for $stall_s s: stopped)"
                for p in "${consumer_pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
                break
            fi
        fi
        tick=$((tick + 1))
        sleep 0.2
    done
    codes=""
    for i in "${!consumer_pids[@]}"; do
        rc=0
        wait "${consumer_pids[$i]}" || rc=$?
        codes+="${codes:+,}$rc"
    done
    consumer_pids=()
    local wall
    wall=$(elapsed "$t0")
    s1=$(cpu_snap)
    sampler_stop

    # From the rows: count, span of completions, latencies (seconds).
    local q
    q=$(db_psql -c "
        WITH c AS (
          SELECT extract(epoch FROM updated_at) AS done,
                 extract(epoch FROM updated_at - inserted_at) AS since_enq
            FROM queued_list_operations WHERE status = 'completed')
        SELECT count(*),
               coalesce(max(done) - min(done), 0),
               coalesce(percentile_cont(0.5) WITHIN GROUP (ORDER BY since_enq), 0),
               coalesce(percentile_cont(0.99) WITHIN GROUP (ORDER BY since_enq), 0),
               coalesce(percentile_cont(0.5) WITHIN GROUP (ORDER BY done - $t0), 0),
               coalesce(percentile_cont(0.99) WITHIN GROUP (ORDER BY done - $t0), 0),
               coalesce(min(done) - $t0, 0)
          FROM c")
    local done_n span p50e p99e p50s p99s first
    read -r done_n span p50e p99e p50s p99s first <<<"$q"
    local others republished requests
    others=$(db_psql -c "SELECT string_agg(status || ' ' || n, ', ') FROM (
        SELECT status, count(*) AS n FROM queued_list_operations
         WHERE status <> 'completed' GROUP BY status ORDER BY status) s")
    # A claim that found an earlier operation of its list still active drops its message
    # and unpublishes the row; the earlier one's finish publishes it again.
    republished=$(db_psql -c "SELECT count(*) FROM queued_list_operations
        WHERE published_at >= to_timestamp($t0)")
    requests=$(fake_count)

    # Per consumer: user+sys and peak RSS from GNU time.
    # The wall time is the longest consumer's (the wait loop above polls).
    local cpu_s=0 rss_list="" rss_max=0 el u sy m el_max=0
    for ((i = 1; i <= procs; i++)); do
        if [ -s "$work/time.$i" ] && read -r el u sy m < <(tail -n 1 "$work/time.$i") &&
            [[ $m =~ ^[0-9]+$ ]]; then
            el_max=$(awk -v a="$el_max" -v b="$el" 'BEGIN { print (b > a ? b : a) }')
            cpu_s=$(awk -v a="$cpu_s" -v b="$u" -v c="$sy" 'BEGIN { print a + b + c }')
            rss_list+="${rss_list:+ }$(awk -v k="$m" 'BEGIN { printf "%.1f", k / 1024 }')"
            [ "$m" -le "$rss_max" ] || rss_max=$m
        else
            rss_list+="${rss_list:+ }?"
        fi
    done
    [ "$el_max" = 0 ] || wall=$el_max
    local ops_s cons_us pg_us own_us anon_kb mq_us fk_us busy rss_mb logl
    read -r own_us anon_kb < <(sampler_figures "$done_n")
    ops_s=$(rate "$done_n" "$span")
    cons_us=$(awk -v c="$cpu_s" -v n="$done_n" 'BEGIN { printf "%.0f", (n > 0 ? c * 1e6 / n : 0) }')
    pg_us=$(cpu_per_op "$s0" "$s1" 1 "$done_n")
    mq_us=$(cpu_per_op "$s0" "$s1" 2 "$done_n")
    fk_us=$(cpu_per_op "$s0" "$s1" 3 "$done_n")
    busy=$(busy_pct "$s0" "$s1")
    rss_mb=$(awk -v k="$rss_max" 'BEGIN { printf "%.1f", k / 1024 }')
    logl=$(cat "$work"/consumer."$label".*.log | wc -l)

    local note=""
    case ",$codes," in *,124,* | *,137,*) note=" (timed out after $drain_timeout s: stopped)" ;; esac
    note+=$stalled
    [ "$done_n" -eq "$n" ] || note+=" INCOMPLETE"
    printf '  completed %d/%d%s; exit status %s%s\n' "$done_n" "$n" \
        "${others:+ (also $others)}" "$codes" "$note"
    if [ -n "$note" ] || [ "$codes" != "$(printf '0,%.0s' $(seq "$procs") | sed 's/,$//')" ]; then
        # what the consumers complained about (their logs mask secrets)
        cat "$work"/consumer."$label".*.log | grep -E ' (ERROR|WARN) ' | cut -c1-300 |
            sort | uniq -c | sort -rn | head -n 3 | sed 's/^/  consumer log: /'
    fi
    printf '  rows: first to last completion %.2f s = %s ops/s; wall (start to last exit) %s s = %s ops/s\n' \
        "$span" "$ops_s" "$wall" "$(rate "$done_n" "$wall")"
    printf '  latency: since enqueue p50 %.2f s, p99 %.2f s; since consumer start p50 %.2f s, p99 %.2f s (first completion %.2f s)\n' \
        "$p50e" "$p99e" "$p50s" "$p99s" "$first"
    printf '  consumers: peak RSS %s MB (largest private/anonymous part %.1f MB); CPU (user+sys) %.2f s = %s us/op; %d log lines\n' \
        "$rss_list" "$(awk -v k="$anon_kb" 'BEGIN { print k / 1024 }')" "$cpu_s" "$cons_us" \
        "$logl"
    printf '  CPU per op meanwhile: PostgreSQL %s us (its backends for the consumers; the whole server %s us), RabbitMQ %s us, fake %s us; machine %s%% busy\n' \
        "$own_us" "$pg_us" "$mq_us" "$fk_us" "$busy"
    printf '  TMDB requests %s; republished after a blocked claim %s\n\n' \
        "${requests:-?}" "$republished"
    table+=("$(printf '%-10s %5d %4d %6d %7s %6.2f/%-6.2f %6.2f/%-6.2f %6s %6s %6s %6s %6s %6s %5s' \
        "$label" "$procs" "$c" "$done_n" "$ops_s" "$p50e" "$p99e" "$p50s" "$p99s" \
        "$rss_mb" "$cons_us" "$own_us" "$pg_us" "$mq_us" "$fk_us" "$busy")")
    # the best drain figure, for the ratio to pgbench
    if [ "$ops_s" -gt "${best_ops:-0}" ]; then best_ops=$ops_s best_label=$label; fi
}

# ---- (b) concurrency sweep, (c) drains ----------------------------------------------------
best_ops=0
best_label=""
if ! skipped sweep && [ -n "$sweep_set" ]; then
    for c in $sweep_set; do
        drain "sweep-c$c" 1 "$c" "$sweep_n"
    done
fi
if ! skipped drain; then
    for p in $procs_set; do
        drain "drain-p$p" "$p" "$conc" "$ops_n"
    done
fi

# ---- (d) pgbench --------------------------------------------------------------------------
# Client k of C takes the lists l = k mod C in turn, row after row: C * (rows per client) =
# OPS, and no two clients touch one list. Rows are addressed by id = md5(n)::uuid.
cat >"$work/rows.sql" <<'EOF'
\set per :lists / :clients
\set l :client_id + :clients * (:k % :per)
\set n (:k / :per) * :lists + :l + 1
\set k :k + 1
EOF
{
    cat "$work/rows.sql"
    cat <<'EOF'
UPDATE bench_ops
   SET status = 'processing', claimed_by = 'pgbench',
       lease_expires_at = now() + interval '2 minutes', updated_at = now()
 WHERE id = md5(CAST(:n AS text))::uuid AND status = 'pending'
RETURNING *;
UPDATE bench_ops
   SET status = 'completed', result = '{"status_code":12}', error_message = NULL,
       error_kind = NULL, lease_expires_at = NULL, updated_at = now()
 WHERE id = md5(CAST(:n AS text))::uuid AND status = 'processing' AND claimed_by = 'pgbench';
EOF
} >"$work/minimal.sql"
{
    cat "$work/rows.sql"
    cat <<'EOF'
SELECT * FROM tmdbq_claim(md5(CAST(:n AS text))::uuid, 'pgbench', 120000, 5);
SELECT * FROM tmdbq_finish(md5(CAST(:n AS text))::uuid, 'pgbench', 'completed',
                           '{"status_code":12}', NULL, NULL, 0, false);
EOF
} >"$work/functions.sql"
# OPS pending rows in table T, in the drain's shape (lists in turn, distinct movies).
fill_rows() {
    db_psql >/dev/null <<EOF
TRUNCATE $1;
INSERT INTO $1 (id, operation_type, tmdb_user_id, tmdb_list_id, operation_data, published_at)
SELECT md5(n::text)::uuid, 'add_movie', 1 + ((n - 1) % $lists_n) % $users_n,
       $first_list + (n - 1) % $lists_n, jsonb_build_object('movie_id', $first_movie + n - 1),
       now()
  FROM generate_series(1, $ops_n) AS n ORDER BY n;
VACUUM ANALYZE $1;
EOF
}
declare -A pg_rate
if ! skipped pgbench; then
    db_psql -c 'CREATE TABLE bench_ops (LIKE queued_list_operations INCLUDING ALL)' >/dev/null
    for kind in minimal functions; do
        table_name=bench_ops
        [ "$kind" = minimal ] || table_name=queued_list_operations
        for c in 1 2 4; do
            say "(d) pgbench $kind -c $c: $ops_n operations"
            fill_rows "$table_name"
            out="$work/pgbench.$kind.$c.out"
            s0=$(cpu_snap)
            sampler_start
            timeout 300 "$pgbench" -n -f "$work/$kind.sql" -c "$c" -j "$c" \
                -t $((ops_n / c)) -D k=0 -D clients="$c" -D lists="$lists_n" \
                "$TMDBQ_DATABASE_URL" >"$out" 2>&1 ||
                { cat "$out" >&2; die "pgbench $kind -c $c failed"; }
            s1=$(cpu_snap)
            sampler_stop
            read -r own_us _ < <(sampler_figures "$ops_n")
            tps=$(awk '/^tps = / { printf "%.0f", $3; exit }' "$out")
            pg_rate[$kind.$c]=$tps
            done_n=$(db_psql -c "SELECT count(*) FROM $table_name WHERE status = 'completed'")
            printf '(d) pgbench %-9s -c %d: %6s tps = %6s ops/s (%6s commits/s); completed %d/%d\n' \
                "$kind" "$c" "$tps" "$tps" "$((tps * 2))" "$done_n" "$ops_n"
            printf '    CPU per op: PostgreSQL %s us (its backends; the whole server %s us); machine %s%% busy\n' \
                "$own_us" "$(cpu_per_op "$s0" "$s1" 1 "$ops_n")" "$(busy_pct "$s0" "$s1")"
        done
    done
    printf '    minimal: a claim UPDATE by id RETURNING * and a complete UPDATE on a copy of the table;\n'
    printf '    functions: tmdbq_claim and tmdbq_finish, as the consumer calls them, on the real table\n\n'
fi

# ---- the table ----------------------------------------------------------------------------
printf '%-10s %5s %4s %6s %7s %13s %13s %6s %6s %6s %6s %6s %6s %5s\n' \
    run procs conc 'done' 'ops/s' 'p50/p99 enq' 'p50/p99 start' 'RSS MB' \
    'cons' 'pg own' 'pg all' 'mq' 'fake' 'busy'
printf '%-10s %5s %4s %6s %7s %13s %13s %6s %6s %6s %6s %6s %6s %5s\n' \
    '' '' '' '' '(rows)' '(s)' '(s)' '(max)' 'us/op' 'us/op' 'us/op' 'us/op' 'us/op' '%'
for line in "${table[@]}"; do printf '%s\n' "$line"; done
printf '\n'
if [ -n "${fake_rate[4]:-}" ]; then
    printf 'fake alone (curl, 1 / 4 connections): %s / %s req/s; fake CPU %s us/request\n' \
        "${fake_rate[1]}" "${fake_rate[4]}" "$fake_us"
fi
if [ -n "${pg_rate[minimal.1]:-}" ]; then
    printf 'pgbench minimal   (-c 1 / 2 / 4): %s / %s / %s ops/s\n' \
        "${pg_rate[minimal.1]}" "${pg_rate[minimal.2]}" "${pg_rate[minimal.4]}"
    printf 'pgbench functions (-c 1 / 2 / 4): %s / %s / %s ops/s\n' \
        "${pg_rate[functions.1]}" "${pg_rate[functions.2]}" "${pg_rate[functions.4]}"
    if [ "$best_ops" -gt 0 ]; then
        ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }'; }
        printf 'best drain (%s, %s ops/s) / pgbench minimal -c 4 = %s; / pgbench functions -c 4 = %s\n' \
            "$best_label" "$best_ops" "$(ratio "$best_ops" "${pg_rate[minimal.4]}")" \
            "$(ratio "$best_ops" "${pg_rate[functions.4]}")"
    fi
fi
printf '%s\n' "(us/op: CPU per completed operation during the drain: the consumers; the PostgreSQL" \
    "backends serving them (pg own) and the whole server (pg all); the RabbitMQ server; the" \
    "fake. busy: the whole machine. Everything shares $(nproc) CPUs; pg all and mq include" \
    "whatever else uses the same server and broker meanwhile.)"
