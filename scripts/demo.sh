#!/usr/bin/env bash
# The demo: set the machine up, apply the schema, store the demo users' TMDB sessions,
# enqueue a realistic batch of list edits through the bulk interface, and show what the
# queue holds. Run again, it enqueues the batch again: an operation is a duplicate only of
# the latest pending operation on the same list (see DESIGN.md, Deduplication).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

step() { printf '\n== %s\n' "$*"; }

bash scripts/setup.sh

tmdbq=build/producer/tmdbq

step "tmdbq migrate"
"$tmdbq" migrate

step "tmdbq session set (the demo users' TMDB sessions; secrets are never printed back)"
"$tmdbq" session set --user 1 --session-id demo-session --access-token demo-token
"$tmdbq" session set --user 2 --session-id demo-session-2

# User 1 owns list 101, user 2 owns list 102 (and an old list 104). Line 3 repeats line 2
# (a double click: a duplicate of a pending operation, nothing is inserted). The line
# before the last is refused by TMDB (user 2 may not edit user 1's list): it ends failed.
# The last line is invalid (a negative movie id) and is rejected with a message naming
# the field.
step "tmdbq enqueue --file - (21 operations, one JSON object a line)"
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
{"type":"add_movie","user":1,"list":101,"movie":-5}
EOF
case $rc in
0 | 2) ;; # 2: some line was invalid (the last one is, on purpose); the others are queued
*)
    printf 'demo: tmdbq enqueue failed with exit status %d\n' "$rc" >&2
    exit "$rc"
    ;;
esac

step "tmdbq stats"
"$tmdbq" stats

step "tmdbq pending --user 1 (oldest first)"
"$tmdbq" pending --user 1

# The consumer applies the queue to TMDB. Without TMDB credentials in the environment it
# talks to the fake TMDB of the tests, on loopback, set up with the demo users' sessions and
# lists; with them, to the real TMDB (where the demo's made-up sessions are rejected, so the
# operations end failed with error_kind "credentials" until real ones are stored).
fake_pid=
work_dir=$(mktemp -d /tmp/tmdbq-demo.XXXXXX)
cleanup() {
    if [ -n "$fake_pid" ]; then
        kill "$fake_pid" 2>/dev/null || true
        wait "$fake_pid" 2>/dev/null || true
    fi
    rm -rf "$work_dir"
}
trap cleanup EXIT

if [ -n "${TMDB_API_KEY:-}" ] || [ -n "${TMDB_ACCESS_TOKEN:-}" ]; then
    step "TMDB credentials are set: the consumer talks to ${TMDB_API_URL:-https://api.themoviedb.org}"
else
    step "no TMDB credentials set: starting the fake TMDB on 127.0.0.1"
    build/tests/fake_tmdb/fake-tmdb --port 0 --port-file "$work_dir/port" \
        --api-key demo-api-key 2>"$work_dir/fake.log" &
    fake_pid=$!
    for _ in $(seq 100); do
        [ -s "$work_dir/port" ] && break
        sleep 0.05
    done
    [ -s "$work_dir/port" ] || { echo "demo: the fake TMDB did not start" >&2; exit 1; }
    fake="http://127.0.0.1:$(cat "$work_dir/port")"
    control() { curl -fsS -X POST -H 'Content-Type: application/json' -d "$2" "$fake$1" >/dev/null; }
    control /__control/users '{"user_id":1,"session_id":"demo-session","access_token":"demo-token"}'
    control /__control/users '{"user_id":2,"session_id":"demo-session-2"}'
    control /__control/lists '{"id":101,"owner":1,"name":"Watch later","items":[13]}'
    control /__control/lists '{"id":102,"owner":2,"name":"Noir","items":[]}'
    control /__control/lists '{"id":104,"owner":2,"name":"Old list","items":[78,79]}'
    echo "fake TMDB at $fake: users 1 and 2, lists 101 (user 1), 102 and 104 (user 2)"
    export TMDB_API_URL=$fake TMDB_API_KEY=demo-api-key
fi

# Short retry delays so that the demo's retries are seen within seconds.
step "tmdbq-consumer --drain (applies everything, then exits)"
TMDBQ_BACKOFF_BASE=${TMDBQ_BACKOFF_BASE:-1s} TMDBQ_BACKOFF_CAP=${TMDBQ_BACKOFF_CAP:-8s} \
    build/consumer/tmdbq-consumer --drain --concurrency 2

step "tmdbq stats"
"$tmdbq" stats

step "tmdbq failed (what needs a person, newest first)"
"$tmdbq" failed

# User 2 had no v4 access token, so their update_list failed with error_kind "credentials".
# Storing one retries exactly those operations.
if [ -n "$fake_pid" ]; then
    control /__control/users '{"user_id":2,"session_id":"demo-session-2","access_token":"demo-token-2"}'
    step "tmdbq session set --user 2 ... --access-token ... (retries user 2's credential failures)"
    "$tmdbq" session set --user 2 --session-id demo-session-2 --access-token demo-token-2
    TMDBQ_BACKOFF_BASE=${TMDBQ_BACKOFF_BASE:-1s} TMDBQ_BACKOFF_CAP=${TMDBQ_BACKOFF_CAP:-8s} \
        build/consumer/tmdbq-consumer --drain --concurrency 2
    "$tmdbq" stats

    step "the fake TMDB's lists now"
    curl -fsS "$fake/__control/lists"
    echo
fi
cat <<EOF

Every operation is a row of queued_list_operations in PostgreSQL; ids travel through the
RabbitMQ queue ${TMDBQ_AMQP_PREFIX:-tmdbq}.work (management UI: http://localhost:15672,
guest/guest). Look at one operation: $tmdbq show ID
EOF
