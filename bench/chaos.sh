#!/usr/bin/env bash
# The chaos suite's long form: every scenario of tests/integration/test_chaos_*.c for a
# minute or more under a bigger load, then one table.
#
# The scenarios, on private servers (a PostgreSQL cluster and a RabbitMQ node of each test
# program's own, on loopback ports of their own, started and stopped by it), each with a
# backlog and a paced stream of operations: repeated SIGKILL of consumers and of the
# leading reaper, backend kills (pg_terminate_backend of the consumers' sessions), broker
# restarts, PostgreSQL restarts (-m fast and -m immediate), a 30% 503 storm, 429 bursts
# and TMDB's ceiling, a slow TMDB (under and past the consumers' timeout). Each is then
# left to settle and checked against the ledger (tests/integration/chaos.h): every
# operation final and as the fake TMDB saw it, nothing lost, in order where it matters,
# no more messages than twice the operations, repeated writes only inside crash windows,
# counted by kind. The same programs run the short form in the test command (ctest -R
# chaos); this script only sets TMDBQ_CHAOS=long.
#
# Knobs: CHAOS_TESTS ("kill restart tmdb": which programs), TMDBQ_CHAOS (long; "short"
# runs the test command's form), TMDBQ_BENCH_BUILD (build: the build directory, built with
# bash scripts/build.sh when a program is missing), CHAOS_KEEP (non-empty: keep the
# programs' full output in the work directory and say where), TMDBQ_CHAOS_ONLY (scenario
# names, e.g. "kill_consumers storm_503": only those). About 5 minutes per program.
#
# Exit status: 0 when every scenario held its ledger, 1 otherwise (the table is printed in
# both cases); 2 for bad usage or a failed build.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

tests=${CHAOS_TESTS:-kill restart tmdb}
form=${TMDBQ_CHAOS:-long}
build_dir=${TMDBQ_BENCH_BUILD:-build}
keep=${CHAOS_KEEP:-}

say() { printf 'chaos: %s\n' "$*" >&2; }
die() {
    printf 'chaos: error: %s\n' "$*" >&2
    exit 2
}

case $form in long | short) ;; *) die "TMDBQ_CHAOS must be long or short, not \"$form\"" ;; esac
for t in $tests; do
    case $t in kill | restart | tmdb) ;; *) die "unknown chaos test \"$t\" (kill, restart, tmdb)" ;; esac
done

for t in $tests; do
    if [ ! -x "$build_dir/tests/integration_test_chaos_$t" ]; then
        say "$build_dir/tests/integration_test_chaos_$t is missing: building $build_dir"
        bash scripts/build.sh "$build_dir" >&2 || die "the build failed"
        break
    fi
done

work=$(mktemp -d /tmp/tmdbq-bench-chaos.XXXXXX)
cleanup() {
    if [ -n "$keep" ]; then
        say "kept the output in $work"
    else
        rm -rf "$work"
    fi
}
trap cleanup EXIT

failed=()
for t in $tests; do
    bin=$build_dir/tests/integration_test_chaos_$t
    say "test_chaos_$t ($form form), started $(date -u +%H:%M:%S)"
    start=$EPOCHSECONDS
    rc=0
    # The program stops what it started by PID when it exits (a watchdog of its own
    # stops its private servers even when it is killed), and each of its waits is
    # bounded: nothing to clean up or time out here.
    TMDBQ_CHAOS=$form "$bin" >"$work/$t.out" 2>"$work/$t.err" || rc=$?
    grep -E '^chaos [a-z_0-9]+: ' "$work/$t.out" >&2 || true
    if [ "$rc" -ne 0 ]; then
        failed+=("test_chaos_$t (status $rc)")
        say "test_chaos_$t failed (status $rc); its stderr ends with:"
        tail -n 40 "$work/$t.err" >&2
    fi
    say "test_chaos_$t took $((EPOCHSECONDS - start)) s"
done

# One table: the header once, then every program's rows.
outs=()
for t in $tests; do
    if [ -f "$work/$t.out" ]; then
        outs+=("$work/$t.out")
    fi
done
if [ "${#outs[@]}" -gt 0 ]; then
    printf '\n'
    grep -h -m 2 -E '^\| scenario |^\|---' "${outs[0]}" || true
    grep -h -E '^\| ' "${outs[@]}" | grep -v -E '^\| scenario |^\|---' || true
fi

if [ "${#failed[@]}" -gt 0 ]; then
    say "FAILED: ${failed[*]}"
    exit 1
fi
say "every scenario held its ledger"
