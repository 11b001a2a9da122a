# What the benchmarks here share; sourced (not run) by drain.sh, rate.sh and latency.sh.
# shellcheck shell=bash
# shellcheck disable=SC2034 # fake_pid and fake_url are for the scripts that source this one

# say: a progress line on stderr; die: an error line on stderr, and exit 1.
say() { printf 'bench: %s\n' "$*" >&2; }
die() {
    printf 'bench: error: %s\n' "$*" >&2
    exit 1
}

# posint NAME VALUE: die unless VALUE is a positive integer (NAME says which knob).
posint() {
    case $2 in '' | *[!0-9]* | 0*) die "$1 must be a positive integer, not \"$2\"" ;; esac
}

# fake_start FAKE WORK API_KEY: start the fake TMDB binary FAKE on a free loopback port,
# its log in WORK/fake.log; sets fake_pid (for the caller's cleanup) and fake_url.
fake_start() {
    "$1" --port 0 --port-file "$2/fake.port" --api-key "$3" 2>"$2/fake.log" &
    fake_pid=$!
    for _ in $(seq 100); do
        [ -s "$2/fake.port" ] && break
        kill -0 "$fake_pid" 2>/dev/null || die "fake-tmdb exited: $(cat "$2/fake.log")"
        sleep 0.1
    done
    [ -s "$2/fake.port" ] || die "fake-tmdb did not start within 10 s"
    fake_url="http://127.0.0.1:$(cat "$2/fake.port")"
}
