#!/usr/bin/env bash
# selftest.sh: starts fake-tmdb on a free port and checks, with curl, every TMDB endpoint,
# every fault, the control API, the HTTP limits and that logs never show credentials.
# Needs bash and curl only (the fake's JSON is compact, so grep -F is enough).
#
#   selftest.sh [path/to/fake-tmdb] [--bench]
#
# --bench also runs ab (apache2-utils) with keep-alive against add_item and prints req/s.
# Exit status: 0 when every check passed, 1 otherwise, 77 (skip) when curl is missing and
# CI is not set.
set -u

if ! command -v curl >/dev/null; then
    echo "selftest: curl not found" >&2
    if [ -n "${CI-}" ]; then exit 1; fi
    exit 77
fi

BIN=""
BENCH=0
for arg in "$@"; do
    case "$arg" in
    --bench) BENCH=1 ;;
    *) BIN=$arg ;;
    esac
done
if [ -z "$BIN" ]; then
    BIN=$(dirname "$0")/fake-tmdb
fi
if [ ! -x "$BIN" ]; then
    echo "selftest: fake-tmdb binary \"$BIN\" not found or not executable" >&2
    exit 1
fi

WORK=$(mktemp -d)
PORT_FILE=$WORK/port
PID=""
PASS=0
FAIL=0

cleanup() {
    if [ -n "$PID" ]; then
        kill "$PID" 2>/dev/null
        wait "$PID" 2>/dev/null
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT

# Distinctive credentials, so the log check can look for them.
KEY=key-SECRET-app
READ=read-SECRET-token
S1=sess-SECRET-one
S2=sess-SECRET-two
T1=tok-SECRET-one
T2=tok-SECRET-two

"$BIN" --port 0 --port-file "$PORT_FILE" --api-key "$KEY" --read-token "$READ" --verbose \
    2>"$WORK/stderr" &
PID=$!
for _ in $(seq 1 100); do
    [ -s "$PORT_FILE" ] && break
    sleep 0.05
done
if [ ! -s "$PORT_FILE" ]; then
    echo "selftest: fake-tmdb did not write its port file" >&2
    cat "$WORK/stderr" >&2
    exit 1
fi
PORT=$(cat "$PORT_FILE")
BASE="http://127.0.0.1:$PORT"
JSON_CT='Content-Type: application/json;charset=utf-8'

ok() {
    PASS=$((PASS + 1))
}

bad() {
    FAIL=$((FAIL + 1))
    echo "FAIL: $*" >&2
}

# call METHOD PATH [BODY] [curl args...]: a JSON BODY is sent as application/json; "" = none.
# Sets STATUS, BODY and HEADERS.
call() {
    local method=$1 path=$2 data=${3-}
    shift 2
    [ $# -gt 0 ] && shift
    local args=()
    if [ -n "$data" ]; then
        args=(--data-binary "$data" -H "$JSON_CT")
    fi
    STATUS=$(curl -sS -o "$WORK/body" -D "$WORK/headers" -w '%{http_code}' -X "$method" \
        ${args[@]+"${args[@]}"} "$@" "$BASE$path" 2>"$WORK/curl_err")
    BODY=$(cat "$WORK/body" 2>/dev/null)
    HEADERS=$(cat "$WORK/headers" 2>/dev/null)
}

# expect NAME HTTP_STATUS [SUBSTRING...]: checks the last call's status and body.
expect() {
    local name=$1 want=$2
    shift 2
    if [ "$STATUS" != "$want" ]; then
        bad "$name: HTTP $STATUS, want $want; body: $BODY"
        return
    fi
    local s
    for s in "$@"; do
        case "$BODY" in
        *"$s"*) ;;
        *)
            bad "$name: body lacks '$s': $BODY"
            return
            ;;
        esac
    done
    ok
}

# check NAME ACTUAL WANT: plain equality.
check() {
    if [ "$2" = "$3" ]; then ok; else bad "$1: got '$2', want '$3'"; fi
}

# contains NAME HAYSTACK NEEDLE
contains() {
    case "$2" in
    *"$3"*) ok ;;
    *) bad "$1: '$3' not in: $2" ;;
    esac
}

V3="api_key=$KEY"
U1="$V3&session_id=$S1"
U2="$V3&session_id=$S2"

# ---- control basics ----------------------------------------------------------------
call GET /__control/health
expect "health" 200 '{"ok":true}'
call POST /__control/reset '{}'
expect "reset" 200 '"ok":true'
call POST /__control/users "{\"user_id\":1,\"session_id\":\"$S1\",\"access_token\":\"$T1\"}"
expect "user 1" 200 '"ok":true'
call POST /__control/users "{\"user_id\":2,\"session_id\":\"$S2\",\"access_token\":\"$T2\"}"
expect "user 2" 200 '"ok":true'
call POST /__control/users '{"user_id":"x"}'
expect "user validation" 400 '"ok":false'

# ---- create ------------------------------------------------------------------------
call POST "/3/list?$U1" '{"name":"Mine","description":"","language":"en"}'
expect "create list" 201 '"status_code":1' '"success":true' \
    '"status_message":"The item/record was created successfully."' '"list_id":1000'
check "create content type" "$(grep -i '^content-type:' "$WORK/headers" | tr -d '\r')" \
    "Content-Type: application/json;charset=utf-8"
L=1000
call POST "/3/list?$U1" '{"name":"NoDesc"}'
expect "create without description" 422 '"success":false' '"status_code":5'
call POST "/3/list?$U1" '{"name":"","description":""}'
expect "create empty name" 422 '"status_code":5'
call POST "/3/list?$U1" '{"name":"x","description":7}'
expect "create non-string description" 422 '"status_code":5'
call POST "/3/list?$U1" "" --data-binary 'name=x&description=' \
    -H 'Content-Type: application/x-www-form-urlencoded'
expect "create form-encoded" 400 '"status_code":47'
call POST "/3/list?$U1" "" --data-binary '{"name":' -H "$JSON_CT"
expect "create broken JSON" 400 '"status_code":47'
call POST "/3/list?$V3" '{"name":"x","description":""}'
expect "create without session" 401 '"status_code":3' \
    '"status_message":"Authentication failed: You do not have permissions to access the service."'
call POST "/3/list?$V3&session_id=nope" '{"name":"x","description":""}'
expect "create bad session" 401 '"status_code":3'

# ---- read --------------------------------------------------------------------------
call GET "/3/list/$L?$V3"
expect "get list" 200 "\"id\":\"$L\"" '"item_count":0' '"items":[]' '"name":"Mine"'
call GET "/3/list/999999?$V3"
expect "get missing list" 404 '"success":false' '"status_code":34' \
    '"status_message":"The resource you requested could not be found."'
call GET "/3/list/abcdef0123456789abcdef01?$V3"
expect "get hex list id" 404 '"status_code":34'

# ---- add / remove ------------------------------------------------------------------
call POST "/3/list/$L/add_item?$U1" '{"media_id":550}'
expect "add 550" 201 '"success":true' '"status_code":12'
call POST "/3/list/$L/add_item?$U1" '{"media_id":550}'
expect "add 550 again" 403 '"success":false' '"status_code":8'
call POST "/3/list/$L/add_item?$U1" '{"media_id":603}'
expect "add 603" 201 '"status_code":12'
call POST "/3/list/999999/add_item?$U1" '{"media_id":550}'
expect "add to missing list" 404 '"status_code":34'
call POST "/3/list/$L/add_item?$U1" '{"media_id":"550"}'
expect "add string media_id" 422 '"status_code":5'
call POST "/3/list/$L/add_item?$U1" '{"media_id":0}'
expect "add zero media_id" 422 '"status_code":5'
call POST "/3/list/$L/add_item?$U2" '{"media_id":13}'
expect "add to other's list" 401 '"status_code":38'
call GET "/3/list/$L?$V3"
expect "get list items" 200 '"items":[{"id":550,"media_type":"movie"},{"id":603,"media_type":"movie"}]' \
    '"item_count":2'
call GET "/3/list/$L/item_status?$V3&movie_id=550"
expect "item_status present" 200 "\"id\":\"$L\"" '"item_present":true'
call GET "/3/list/$L/item_status?$V3&movie_id=13"
expect "item_status absent" 200 '"item_present":false'
call POST "/3/list/$L/remove_item?$U1" '{"media_id":550}'
expect "remove 550" 200 '"success":true' '"status_code":13'
call POST "/3/list/$L/remove_item?$U1" '{"media_id":550}'
expect "remove absent" 200 '"success":false' '"status_code":21'
call GET "/__control/lists/$L"
expect "control list after remove" 200 '"items":[603]' '"owner":1'

# ---- clear -------------------------------------------------------------------------
call POST "/3/list/$L/clear?$U1"
expect "clear without confirm" 400 '"status_code":29'
call POST "/3/list/$L/clear?$U1&confirm=false"
expect "clear confirm=false" 400 '"status_code":29'
call POST "/3/list/$L/clear?$U2&confirm=true"
expect "clear other's list" 401 '"status_code":38'
call POST "/3/list/$L/clear?$U1&confirm=true"
expect "clear" 201 '"success":true' '"status_code":12'
call GET "/__control/lists/$L"
expect "control list after clear" 200 '"items":[]'

# ---- v4 update ---------------------------------------------------------------------
call PUT "/4/list/$L" '{"name":"Renamed","description":"d","public":false}' \
    -H "Authorization: Bearer $T1"
expect "v4 update" 201 '"success":true' '"status_code":12'
call GET "/__control/lists/$L"
expect "control list after update" 200 '"name":"Renamed"' '"description":"d"' '"public":false'
call PUT "/4/list/$L" '{"name":"x"}' -H "Authorization: Bearer tok-unknown"
expect "v4 unknown token" 401 '"status_code":35'
call PUT "/4/list/$L" '{"name":"x"}' -H "Authorization: Bearer $READ"
expect "v4 read token" 401 '"status_code":36'
call PUT "/4/list/$L" '{"name":"x"}'
expect "v4 no credentials" 401 '"status_code":7'
call PUT "/4/list/$L" '{"name":"x"}' -H "Authorization: Bearer $T2"
expect "v4 other's list" 401 '"status_code":38'
call PUT "/4/list/$L" '{}' -H "Authorization: Bearer $T1"
expect "v4 empty update" 422 '"status_code":5'
call PUT "/4/list/$L" '{"public":"no"}' -H "Authorization: Bearer $T1"
expect "v4 bad public" 422 '"status_code":5'
call PUT "/4/list/999999" '{"name":"x"}' -H "Authorization: Bearer $T1"
expect "v4 missing list" 404 '"status_code":34'
call GET "/4/list/$L" "" -H "Authorization: Bearer $T1"
expect "v4 get own private list" 200 "\"id\":$L" '"public":false'
call GET "/3/list/$L?$U2"
expect "v3 get other's private list" 401 '"status_code":39'
call GET "/3/list/$L?$U1"
expect "v3 get own private list" 200 '"name":"Renamed"'

# ---- delete ------------------------------------------------------------------------
call DELETE "/3/list/$L?$U2"
expect "delete other's list" 401 '"status_code":38'
call DELETE "/3/list/$L?$V3"
expect "delete without session" 401 '"status_code":3'
call DELETE "/3/list/$L?$U1"
expect "delete" 200 '"success":true' '"status_code":13'
call GET "/3/list/$L?$V3"
expect "get deleted list" 404 '"status_code":34'
call DELETE "/3/list/$L?$U1"
expect "delete again" 404 '"status_code":34'

# ---- control lists -----------------------------------------------------------------
call POST /__control/lists '{"id":7,"owner":1,"name":"x","items":[550,603]}'
expect "control create list" 201 '"id":7' '"items":[550,603]'
call GET /__control/lists/7
expect "control get list" 200 '"id":7' '"owner":1' '"items":[550,603]' '"public":true'
call GET /__control/lists/424242
expect "control get missing list" 404 '"ok":false'
call GET "/3/list/7?$V3"
expect "v3 get fixture list" 200 '"id":"7"' '"item_count":2'
call POST "/3/list?$U1" '{"name":"after","description":""}'
expect "create after fixture" 201 '"list_id":1001'

# ---- faults: delete quirk ----------------------------------------------------------
call POST /__control/faults '{"delete_quirk":true}'
expect "set delete_quirk" 200 '"delete_quirk":true'
call DELETE "/3/list/7?$U1"
expect "delete quirk answers 500" 500 '"success":false' '"status_code":11'
call GET "/3/list/7?$V3"
expect "delete quirk really deleted" 404 '"status_code":34'
call POST /__control/faults '{}'
expect "clear faults" 200 '"delete_quirk":false' '"fail_first":0'

# ---- faults: rate limit ------------------------------------------------------------
call POST /__control/lists '{"id":8,"owner":1,"name":"eight"}'
expect "fixture 8" 201 '"id":8'
call POST /__control/faults '{"rate_limit_next":2,"retry_after":2}'
expect "set rate limit" 200 '"rate_limit_next":2'
for i in 1 2; do
    call GET "/3/list/8?$V3"
    expect "rate limited $i" 429 '"success":false' '"status_code":25'
    check "Retry-After $i" "$(grep -i '^retry-after:' "$WORK/headers" | tr -d '\r')" \
        "Retry-After: 2"
done
call GET "/3/list/8?$V3"
expect "after rate limit" 200 '"id":"8"'
check "no Retry-After on 200" "$(grep -ci '^retry-after:' "$WORK/headers")" 0

# ---- faults: rate_limit window -----------------------------------------------------
# statuses N: N GETs of list 8 from one curl (keep-alive, so they arrive within ms).
statuses() {
    local urls=() i
    for i in $(seq 1 "$1"); do urls+=(-o /dev/null "$BASE/3/list/8?$V3"); done
    curl -s -w '%{http_code} ' "${urls[@]}"
}
call POST /__control/faults '{}'
call GET "/__control/requests?count=1"
SEQ0=$(printf '%s' "$BODY" | tr -cd 0-9)
call POST /__control/faults '{"rate_limit":5,"rate_window_ms":1000}'
expect "set rate_limit" 200 '"rate_limit":5' '"rate_window_ms":1000' \
    '"accepted_in_window":0' '"limited":0'
check "rate_limit: 5 quick requests pass" "$(statuses 5)" "200 200 200 200 200 "
call GET "/3/list/8?$V3"
expect "rate_limit: the 6th is limited" 429 '"success":false' '"status_code":25' \
    '"status_message":"Your request count (#) is over the allowed limit of (5)."'
RA=$(grep -i '^retry-after:' "$WORK/headers" | tr -cd 0-9)
if [ -n "$RA" ] && [ "$RA" -ge 1 ] && [ "$RA" -le 1 ]; then
    ok
else
    bad "rate_limit: Retry-After '$RA', want 1 (a 1000 ms window)"
fi
call GET "/3/list/8?$V3"
expect "rate_limit: the 7th is limited too (429s do not count)" 429 '"status_code":25'
call GET /__control/faults
expect "rate_limit: counters" 200 '"limited":2' '"rate_limit":5'
call GET "/__control/requests?since=$SEQ0"
check "rate_limit: 429s in the request log" \
    "$(printf '%s' "$BODY" | grep -o '"status":429' | wc -l)" 2
check "rate_limit: 200s in the request log" \
    "$(printf '%s' "$BODY" | grep -o '"status":200' | wc -l)" 5
sleep 1.1
check "rate_limit: after the window, requests pass again" "$(statuses 5)" \
    "200 200 200 200 200 "
call GET "/3/list/8?$V3"
expect "rate_limit: and the window fills again" 429 '"status_code":25'
call GET /__control/faults
expect "rate_limit: window counters" 200 '"accepted_in_window":5' '"limited":3'
# Turning it off and on again starts an empty window.
call POST /__control/faults '{"rate_limit":0}'
expect "rate_limit off" 200 '"rate_limit":0' '"accepted_in_window":0' '"limited":3'
# A 429 does not count: with 1 per 1500 ms, a request at 0 passes, one at ~800 is limited,
# one at ~1800 passes (it would not if the 429 at ~800 had counted).
call POST /__control/faults '{"rate_limit":1,"rate_window_ms":1500}'
check "rate_limit 1: first passes" "$(statuses 1)" "200 "
sleep 0.8
check "rate_limit 1: second, inside the window, limited" "$(statuses 1)" "429 "
sleep 1
check "rate_limit 1: third passes, the 429 was not counted" "$(statuses 1)" "200 "
call POST /__control/faults '{"rate_limit":0}'
call POST /__control/faults \
    '{"rate_limit":2,"rate_window_ms":3000,"path_contains":"remove_item","method":"DELETE"}'
check "rate_limit ignores path_contains and method" "$(statuses 3)" "200 200 429 "
RA=$(curl -s -o /dev/null -D - "$BASE/3/list/8?$V3" | grep -i '^retry-after:' | tr -cd 0-9)
check "rate_limit: Retry-After rounds the window up" "$RA" 3
call POST /__control/faults '{"rate_limit":100001}'
expect "rate_limit over the maximum" 400 'field \"rate_limit\"'
call POST /__control/faults '{"rate_window_ms":0}'
expect "rate_window_ms 0" 400 'field \"rate_window_ms\"'
call POST /__control/faults '{"rate_limit":"5"}'
expect "rate_limit not an integer" 400 'field \"rate_limit\"'
call GET /__control/faults
expect "rate_limit kept after bad POSTs" 200 '"rate_limit":2' '"rate_window_ms":3000'
call POST /__control/faults '{}'
# Six 429s by now: the 6th, the 7th, the one after the window, the one at ~800 ms, the 3rd
# of three and the Retry-After probe. {} leaves the count; only a reset clears it.
expect "clear faults clears rate_limit" 200 '"rate_limit":0' '"rate_window_ms":1000' \
    '"limited":6'
check "rate_limit cleared: requests pass" "$(statuses 3)" "200 200 200 "
call POST /__control/reset '{}'
call GET /__control/faults
expect "reset clears the limited count" 200 '"limited":0' '"accepted_in_window":0'
call POST /__control/users "{\"user_id\":1,\"session_id\":\"$S1\",\"access_token\":\"$T1\"}"
call POST /__control/users "{\"user_id\":2,\"session_id\":\"$S2\",\"access_token\":\"$T2\"}"
call POST /__control/lists '{"id":8,"owner":1,"name":"eight"}'
expect "fixture 8 again" 201 '"id":8'

# ---- faults: fail_first, path_contains, method --------------------------------------
call POST /__control/faults '{"fail_first":2,"fail_status":503}'
expect "set fail_first" 200 '"fail_first":2'
call POST "/3/list/8/add_item?$U1" '{"media_id":1}'
expect "fail_first 1" 503 '"success":false' '"status_code":9'
call POST "/3/list/8/add_item?$U1" '{"media_id":1}'
expect "fail_first 2" 503 '"status_code":9'
call POST "/3/list/8/add_item?$U1" '{"media_id":1}'
expect "after fail_first" 201 '"status_code":12'
call POST /__control/faults '{"fail_first":1,"fail_status":500}'
call POST "/3/list/8/add_item?$U1" '{"media_id":2}'
expect "fail 500" 500 '"status_code":11'
call POST /__control/faults '{"fail_first":1,"fail_status":504}'
call GET "/3/list/8?$V3"
expect "fail 504" 504 '"status_code":24'
call POST /__control/faults '{"fail_first":1,"fail_status":500,"path_contains":"remove_item"}'
expect "set path_contains" 200 '"path_contains":"remove_item"'
call POST "/3/list/8/add_item?$U1" '{"media_id":3}'
expect "path_contains skips add" 201 '"status_code":12'
call POST "/3/list/8/remove_item?$U1" '{"media_id":3}'
expect "path_contains hits remove" 500 '"status_code":11'
call POST "/3/list/8/remove_item?$U1" '{"media_id":3}'
expect "remove after path fault" 200 '"status_code":13'
call POST /__control/faults '{}'
call POST /__control/faults '{"fail_first":1,"method":"DELETE"}'
call GET "/3/list/8?$V3"
expect "method filter skips GET" 200 '"id":"8"'
call POST /__control/faults '{"fail_frist":1}'
expect "unknown fault field" 400 'fail_frist'
call GET /__control/faults
expect "faults kept after bad POST" 200 '"fail_first":1' '"method":"DELETE"'
call POST /__control/faults '{}'

# ---- faults: media_id ----------------------------------------------------------------
call POST /__control/faults '{"fail_first":1,"fail_status":503,"media_id":4243}'
expect "set media_id" 200 '"media_id":4243' '"fail_first":1'
call POST "/3/list/8/add_item?$U1" '{"media_id":4242}'
expect "media_id: other movie added" 201 '"status_code":12'
call GET "/3/list/8?$V3"
expect "media_id: request without a body passes" 200 '"id":"8"'
call POST "/3/list/8/add_item?$U1" '{"media_id":4243}'
expect "media_id: its add fails" 503 '"status_code":9'
call POST "/3/list/8/add_item?$U1" '{"media_id":4243}'
expect "media_id: then succeeds" 201 '"status_code":12'
call POST /__control/faults '{"fail_first":1,"fail_status":500,"media_id":4243,"path_contains":"remove_item"}'
call POST "/3/list/8/add_item?$U1" '{"media_id":4244}'
expect "media_id with path_contains: add passes" 201 '"status_code":12'
call POST "/3/list/8/remove_item?$U1" '{"media_id":4244}'
expect "media_id with path_contains: other movie's remove passes" 200 '"status_code":13'
call POST "/3/list/8/remove_item?$U1" '{"media_id":4243}'
expect "media_id with path_contains: its remove fails" 500 '"status_code":11'
call POST /__control/faults '{}'
call POST /__control/faults '{"fail_rate":1.0,"media_id":4245}'
call POST "/3/list/8/add_item?$U1" '{"media_id":4246}'
expect "media_id with fail_rate: other movie added" 201 '"status_code":12'
call POST "/3/list/8/add_item?$U1" '{"media_id":4245}'
expect "media_id with fail_rate: its add fails" 503 '"status_code":9'
call POST /__control/faults '{"fail_rate":0,"rate_limit_next":1,"media_id":4247}'
call POST "/3/list/8/add_item?$U1" '{"media_id":4248}'
expect "media_id with rate_limit_next: other movie added" 201 '"status_code":12'
call POST "/3/list/8/add_item?$U1" '{"media_id":4247}'
expect "media_id with rate_limit_next: its add limited" 429 '"status_code":25'
call POST /__control/faults '{"media_id":null}'
expect "media_id null lifts it" 200 '"media_id":null'
call POST /__control/faults '{"media_id":0}'
expect "media_id 0 refused" 400 'field \"media_id\"'
call POST /__control/faults '{"media_id":"4243"}'
expect "media_id string refused" 400 'field \"media_id\"'
call POST /__control/faults '{}'

# ---- faults: fail_rate, reproducible -----------------------------------------------
pattern() {
    local p="" i
    call POST /__control/faults '{}'
    call POST /__control/faults '{"fail_rate":0.5,"fail_status":503,"seed":42}'
    for i in $(seq 1 30); do
        call GET "/3/list/8?$V3"
        p="$p${STATUS:0:1}"
    done
    echo "$p"
}
P1=$(pattern)
P2=$(pattern)
check "fail_rate same seed, same failures" "$P1" "$P2"
N5=$(printf '%s' "$P1" | tr -cd 5 | wc -c)
if [ "$N5" -gt 3 ] && [ "$N5" -lt 27 ]; then ok; else bad "fail_rate 0.5 failed $N5 of 30"; fi
call POST /__control/faults '{}'

# ---- faults: latency ---------------------------------------------------------------
call POST /__control/faults '{"latency_ms":300}'
T=$(curl -s -o /dev/null -w '%{time_total}' "$BASE/3/list/8?$V3")
MS=$(awk -v t="$T" 'BEGIN { printf "%d", t * 1000 }')
if [ "$MS" -ge 290 ]; then ok; else bad "latency 300ms took ${MS}ms"; fi
T=$(curl -s -o /dev/null -w '%{time_total}' "$BASE/__control/health")
MS=$(awk -v t="$T" 'BEGIN { printf "%d", t * 1000 }')
if [ "$MS" -lt 250 ]; then ok; else bad "control request delayed ${MS}ms"; fi
call POST /__control/faults '{}'

# ---- faults: refuse ----------------------------------------------------------------
call POST /__control/faults '{"refuse":true}'
curl -s -o /dev/null "$BASE/3/list/8?$V3"
check "refuse: curl sees an empty reply (52)" "$?" 52
call GET /__control/health
expect "control works while refusing" 200 '"ok":true'
call POST /__control/faults '{"refuse":false}'
call GET "/3/list/8?$V3"
expect "after refuse" 200 '"id":"8"'

# ---- faults and auth: API key ------------------------------------------------------
call POST /__control/faults '{"invalid_api_key":true}'
call GET "/3/list/8?$V3"
expect "invalid_api_key fault" 401 '"status_code":7' \
    '"status_message":"Invalid API key: You must be granted a valid key."'
call POST /__control/faults '{}'
call GET "/3/list/8?api_key=wrong"
expect "wrong api key" 401 '"status_code":7'
call GET "/3/list/8"
expect "no api key" 401 '"status_code":7'
call GET "/3/list/8" "" -H "Authorization: Bearer $READ"
expect "bearer read token" 200 '"id":"8"'
call GET "/3/list/8" "" -H "Authorization: Bearer nope"
expect "bearer wrong token" 401 '"status_code":7'
call POST "/3/list/8/add_item?session_id=$S1" '{"media_id":77}' -H "Authorization: Bearer $READ"
expect "write with bearer app auth" 201 '"status_code":12'

# ---- routing -----------------------------------------------------------------------
call GET "/3/nothing/here?$V3"
expect "unknown path" 404 '"status_code":34'
call GET "/3/list/8/add_item?$V3"
expect "wrong method" 405 '"status_code":42'
call GET /__control/nothing
expect "unknown control path" 404 '"ok":false'

# ---- request log -------------------------------------------------------------------
call DELETE /__control/requests
expect "clear request log" 200 '"ok":true'
call POST "/3/list/8/add_item?$U1" '{"media_id":550}'
call PUT "/4/list/8" '{"name":"n8"}' -H "Authorization: Bearer $T1"
call GET /__control/health
call GET /__control/requests
expect "request log" 200 \
    "{\"seq\":1,\"method\":\"POST\",\"path\":\"/3/list/8/add_item\",\"query\":{\"api_key\":\"$KEY\",\"session_id\":\"$S1\"},\"auth\":null,\"content_type\":\"application/json;charset=utf-8\",\"body\":{\"media_id\":550},\"status\":201,\"t_ms\":" \
    "{\"seq\":2,\"method\":\"PUT\",\"path\":\"/4/list/8\",\"query\":{},\"auth\":\"Bearer $T1\",\"content_type\":\"application/json;charset=utf-8\",\"body\":{\"name\":\"n8\"},\"status\":201,"
check "log has no control requests" "$(printf '%s' "$BODY" | grep -o '"seq":' | wc -l)" 2
call GET "/__control/requests?count=1"
expect "request count" 200 '{"count":2}'
call GET "/__control/requests?since=1"
expect "requests since" 200 '"seq":2'
check "since skips older" "$(printf '%s' "$BODY" | grep -c '"seq":1,')" 0
call POST "/3/list?$U1" "" --data-binary 'name=x' -H 'Content-Type: application/x-www-form-urlencoded'
call GET "/__control/requests?since=2"
expect "raw body kept" 200 '"body":null,"body_raw":"name=x"' '"status":400'
call POST /__control/faults '{"refuse":true}'
curl -s -o /dev/null "$BASE/3/list/8?$V3"
call POST /__control/faults '{}'
call GET "/__control/requests?since=3"
expect "refused request logged with status 0" 200 '"status":0'

# ---- HTTP ----------------------------------------------------------------------------
raw() { # raw REQUEST_TEXT: sends bytes over one connection, prints the answer
    local out
    exec 3<>"/dev/tcp/127.0.0.1/$PORT" || return 1
    printf '%b' "$1" >&3
    out=$(timeout 5 cat <&3)
    exec 3<&- 3>&-
    printf '%s' "$out"
}
R=$(raw "POST /3/list/8/add_item?$U1 HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n")
contains "POST without Content-Length" "$R" "HTTP/1.1 411"
R=$(raw "POST /3/list/8/add_item?$U1 HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n")
contains "chunked body" "$R" "HTTP/1.1 411"
R=$(raw "BROKEN\r\n\r\n")
contains "malformed request" "$R" "HTTP/1.1 400"
head -c 70000 /dev/zero | tr '\0' 'a' >"$WORK/big"
call POST "/3/list/8/add_item?$U1" "" --data-binary "@$WORK/big" -H "$JSON_CT"
check "body over 64 KiB" "$STATUS" 413
R=$(raw "GET /3/list/8?$V3 HTTP/1.1\r\nHost: x\r\nX-Pad: $(head -c 20000 /dev/zero | tr '\0' 'p')\r\n\r\n")
contains "head over 16 KiB" "$R" "HTTP/1.1 431"
# Two requests in one write (pipelining), answered in order on one connection.
R=$(raw "GET /__control/health HTTP/1.1\r\nHost: x\r\n\r\nGET /3/list/999?$V3 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
contains "pipelined 1" "$R" '{"ok":true}'
contains "pipelined 2" "$R" '"status_code":34'
C=$(curl -s -o /dev/null -o /dev/null -w '%{num_connects} ' "$BASE/3/list/8?$V3" "$BASE/3/list/8?$V3")
check "keep-alive reuses the connection" "$C" "1 0 "
R=$(raw "GET /3/list/8?$V3 HTTP/1.0\r\nConnection: keep-alive\r\n\r\n" | head -c 0; echo done)
check "HTTP/1.0 keep-alive answered" "$R" "done"
C=$(curl -s -o /dev/null -w '%{http_code}' --http1.0 -H 'Connection: keep-alive' "$BASE/3/list/8?$V3")
check "HTTP/1.0 request" "$C" 200
call POST "/3/list/8/add_item?$U1" '{"media_id":990}' -H 'Expect: 100-continue'
expect "Expect: 100-continue" 201 '"status_code":12'

# ---- throughput (optional) ---------------------------------------------------------
if [ "$BENCH" = 1 ]; then
    if command -v ab >/dev/null; then
        printf '{"media_id":550}' >"$WORK/body.json"
        kill -0 "$PID"
        ab -k -q -n 20000 -c 4 -p "$WORK/body.json" -T 'application/json;charset=utf-8' \
            "$BASE/3/list/8/add_item?$U1" >"$WORK/ab" 2>&1
        grep -E 'Requests per second|Failed requests|Non-2xx|Keep-Alive requests' "$WORK/ab"
    else
        echo "selftest: ab not installed (apt-get install apache2-utils); no benchmark"
    fi
fi

# ---- logs and shutdown -------------------------------------------------------------
kill -TERM "$PID"
wait "$PID"
check "exit status on SIGTERM" "$?" 0
PID=""
if [ -e "$PORT_FILE" ]; then bad "port file left behind"; else ok; fi
if grep -q 'SECRET' "$WORK/stderr"; then
    bad "stderr shows a credential: $(grep -m1 'SECRET' "$WORK/stderr")"
else
    ok
fi
contains "verbose log masks the query" "$(cat "$WORK/stderr")" "api_key=***&session_id=***"
check "verbose log has a line per request" \
    "$(grep -c 'info fake-tmdb: ' "$WORK/stderr" | awk '{print ($1 > 100)}')" 1

contains "startup line names the default address" "$(cat "$WORK/stderr")" \
    "listening on 127.0.0.1:"

# ---- --listen ------------------------------------------------------------------------
"$BIN" --port 0 --listen not-an-address >/dev/null 2>"$WORK/listen-bad"
check "--listen with a bad address exits 2" "$?" 2
contains "--listen error names the option" "$(cat "$WORK/listen-bad")" 'invalid --listen'
# 127.0.0.2 is loopback too on Linux: listening there and not on 127.0.0.1 shows the
# option is obeyed without exposing anything beyond this machine.
"$BIN" --port 0 --port-file "$PORT_FILE" --listen 127.0.0.2 2>"$WORK/listen-stderr" &
PID=$!
for _ in $(seq 1 100); do
    [ -s "$PORT_FILE" ] && break
    sleep 0.05
done
if [ -s "$PORT_FILE" ]; then
    LPORT=$(cat "$PORT_FILE")
    C=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.2:$LPORT/__control/health")
    check "--listen 127.0.0.2 serves there" "$C" 200
    C=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$LPORT/__control/health")
    check "--listen 127.0.0.2 does not serve 127.0.0.1" "$C" 000
    contains "startup line names the --listen address" "$(cat "$WORK/listen-stderr")" \
        "listening on 127.0.0.2:$LPORT"
else
    bad "--listen 127.0.0.2: no port file: $(cat "$WORK/listen-stderr")"
fi
kill -TERM "$PID"
wait "$PID"
check "--listen: exit status on SIGTERM" "$?" 0
PID=""

echo "fake-tmdb selftest: $PASS passed, $FAIL failed"
[ "$FAIL" -eq 0 ]
