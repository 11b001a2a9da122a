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
# (a double click: a duplicate of a pending operation, nothing is inserted); the last line
# is invalid (a negative movie id) and is rejected with a message naming the field.
step "tmdbq enqueue --file - (20 operations, one JSON object a line)"
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

# ---------------------------------------------------------------------------------------
# WORKERS: the consumer (tmdbq-consumer), the reaper (tmdbq-reaper) and the fake TMDB
# arrive with later issues. They will be started here, and the demo will then wait for
# the queue to drain and show the outcomes.
# ---------------------------------------------------------------------------------------
step "what comes next"
if [ -n "${TMDB_API_KEY:-}" ] || [ -n "${TMDB_ACCESS_TOKEN:-}" ]; then
    target="the real TMDB at ${TMDB_API_URL:-https://api.themoviedb.org}"
else
    target="a local fake TMDB on loopback (TMDB_API_KEY and TMDB_ACCESS_TOKEN are not set)"
fi
cat <<EOF
The queue now holds these operations durably: each is a row of queued_list_operations in
PostgreSQL, and its id waits in the RabbitMQ queue ${TMDBQ_AMQP_PREFIX:-tmdbq}.work
(management UI: http://localhost:15672, guest/guest). Nothing is lost if a process stops.

Consumers and the reaper are not part of this version yet. Once they are, this demo will
start them here and they will apply the operations, in order per list, against
${target}.

Look at one operation: $tmdbq show ID
EOF
