#!/usr/bin/env bash
# Build and run the libFuzzer targets of tests/fuzz/ (see tests/fuzz/CMakeLists.txt).
#
#   tests/fuzz/run.sh build           configure build-fuzz/ with clang (TMDBQ_FUZZ=ON,
#                                     ASan+UBSan, -fsanitize=fuzzer) and build the targets
#   tests/fuzz/run.sh run NAME...     for each target (codec_line, cfg_env, ...): replay
#                                     regressions/NAME/, then fuzz it from corpus/NAME/
#                                     for its seconds
#   tests/fuzz/run.sh all             build, then run every target
#   tests/fuzz/run.sh list            the target names
#
# Environment: TMDBQ_FUZZ_SECONDS, seconds per target (default: each target's own, see
# default_seconds, 90 s for all of them: the test command's share); TMDBQ_FUZZ_BUILD
# (default build-fuzz, relative to the repository); TMDBQ_FUZZ_CC (default clang).
#
# New interesting inputs go to build-fuzz/corpus/NAME/ (kept between runs, never into
# the repository). A crash, a sanitizer report or a failed property leaves its input in
# build-fuzz/artifacts/NAME/ and fails the run; keep it as a regression with
#   cp build-fuzz/artifacts/NAME/crash-... tests/fuzz/regressions/NAME/
#
# Exit status: 0 passed; 1 failed (a crash, a build error, or clang or libFuzzer missing
# under CI=true); 77 skipped (clang or libFuzzer missing and CI is not true).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
cd "$root"

build=${TMDBQ_FUZZ_BUILD:-build-fuzz}
cc=${TMDBQ_FUZZ_CC:-clang}

say() { printf 'fuzz: %s\n' "$*"; }
fail() {
    printf 'fuzz: FAILED: %s\n' "$*" >&2
    exit 1
}

# clang with libFuzzer's runtime (Debian: clang, libclang-rt-14-dev), or skip / fail.
need_clang() {
    local why="" probe
    if ! command -v "$cc" >/dev/null 2>&1; then
        why="$cc is not installed"
    else
        probe=$(mktemp -d /tmp/tmdbq-fuzz-probe.XXXXXX)
        printf '%s\n' '#include <stddef.h>' '#include <stdint.h>' \
            'int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n);' \
            'int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)' \
            '{ (void)d; (void)n; return 0; }' >"$probe/probe.c"
        if ! "$cc" -fsanitize=fuzzer,address,undefined "$probe/probe.c" \
            -o "$probe/probe" >"$probe/log" 2>&1; then
            why="$cc cannot link -fsanitize=fuzzer,address,undefined (libFuzzer's runtime,"
            why="$why Debian libclang-rt-14-dev, missing?): $(head -c 300 "$probe/log")"
        fi
        rm -rf "$probe"
    fi
    [ -z "$why" ] && return 0
    if [ "${CI:-}" = true ]; then
        fail "$why, and CI=true forbids skipping the fuzzers"
    fi
    say "skipped: $why"
    exit 77
}

# Seconds a target fuzzes when TMDBQ_FUZZ_SECONDS is not set: more for the targets with
# the most to explore (whole answers through libcurl, URLs under three parsers, the whole
# configuration), less for pure functions of a few bytes, which are covered in seconds.
default_seconds() {
    case $1 in
    tmdb_answer) echo 12 ;;
    log_mask_url) echo 10 ;;
    cfg_env | codec_line | codec_build) echo 9 ;;
    codec_out | log_write | tmdb_classify_answer) echo 7 ;;
    *) echo 5 ;;
    esac
}

targets() {
    local f
    for f in "$here"/fuzz_*.c; do
        f=${f##*/fuzz_}
        printf '%s\n' "${f%.c}"
    done
}

do_build() {
    need_clang
    say "building the fuzzers into $build/ with $cc"
    TMDBQ_BUILD_TARGETS=fuzzers bash scripts/build.sh "$build" \
        -DCMAKE_C_COMPILER="$cc" -DTMDBQ_FUZZ=ON -DTMDBQ_SANITIZE=ON \
        -DCMAKE_C_FLAGS=-fsanitize=fuzzer-no-link ||
        fail "could not build the fuzzers (is tests/fuzz added to tests/CMakeLists.txt?)"
}

# Replay the regressions of one target, then fuzz it for $seconds.
do_run() {
    local name=$1 bin="$build/tests/fuzz/fuzz_$1" seeds="$here/corpus/$1"
    local regressions="$here/regressions/$1" work="$build/corpus/$1"
    local artifacts="$build/artifacts/$1/" dict="$here/dict/$1.dict"
    local seconds=${TMDBQ_FUZZ_SECONDS:-$(default_seconds "$1")}
    local opts=() files=() failed=() rc=0

    # A missing binary is a skip only when clang is missing too (need_clang decides).
    if [ ! -x "$bin" ]; then
        need_clang
        fail "$bin is missing: run tests/fuzz/run.sh build first"
    fi
    [ -d "$seeds" ] || fail "no seed corpus at $seeds"
    mkdir -p "$work" "$artifacts"
    export ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=0:detect_leaks=1:quarantine_size_mb=64}
    export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

    if [ -d "$regressions" ]; then
        while IFS= read -r -d '' f; do
            files+=("$f")
        done < <(find "$regressions" -type f ! -name '.*' -print0 | sort -z)
    fi
    # One process per input, so every failing one is named, not only the first.
    for f in "${files[@]}"; do
        if ! "$bin" -error_exitcode=1 "$f" >"$build/artifacts/$1.replay.log" 2>&1; then
            grep -a -m1 -E 'property failed|ERROR: AddressSanitizer|runtime error|ERROR: libFuzzer' \
                "$build/artifacts/$1.replay.log" | cut -c1-300 | sed "s|^|fuzz:   ${f##*/}: |" >&2 || true
            failed+=("${f##*/}")
        fi
    done
    if [ "${#failed[@]}" -gt 0 ]; then
        fail "$name: ${#failed[@]} of ${#files[@]} regression input(s) of $regressions" \
            "fail again: ${failed[*]} (replay one: $bin $regressions/NAME)"
    fi
    [ "${#files[@]}" -gt 0 ] && say "$name: ${#files[@]} regression input(s) pass"

    # -error_exitcode: libFuzzer's default, 77, is what ctest takes for a skip.
    opts=(-max_total_time="$seconds" -error_exitcode=1 -timeout=10 -rss_limit_mb=2048
        -max_len=8192 -print_final_stats=1 -artifact_prefix="$artifacts")
    [ -f "$dict" ] && opts+=(-dict="$dict")
    say "$name: fuzzing for ${seconds}s from $seeds"
    "$bin" "${opts[@]}" "$work" "$seeds" >"$build/artifacts/$1.log" 2>&1 || rc=$?
    grep -a -E '^(#[0-9]+ +DONE|stat::number_of_executed_units|stat::peak_rss_mb)' \
        "$build/artifacts/$1.log" | tr '\n' ' ' | sed 's/^/fuzz:   /;s/ $/\n/' || true
    if [ "$rc" -ne 0 ]; then
        tail -n 60 "$build/artifacts/$1.log" >&2
        fail "$name: libFuzzer exited with $rc; the input is in $artifacts (keep it as a" \
            "regression: cp it into tests/fuzz/regressions/$name/)"
    fi
}

# Run every named target, even after one fails; then fail naming those that did.
run_all() {
    local t rc bad=()
    for t in "$@"; do
        rc=0
        (do_run "$t") || rc=$?
        [ "$rc" -eq 77 ] && exit 77
        [ "$rc" -eq 0 ] || bad+=("$t")
    done
    [ "${#bad[@]}" -eq 0 ] || fail "${#bad[@]} of $# target(s) failed: ${bad[*]}"
}

cmd=${1:-}
shift || true
case "$cmd" in
build) do_build ;;
run)
    [ "$#" -gt 0 ] || fail "usage: run.sh run NAME..."
    run_all "$@"
    ;;
all)
    do_build
    mapfile -t names < <(targets)
    run_all "${names[@]}"
    ;;
list)
    targets
    exit 0
    ;;
*)
    echo "usage: tests/fuzz/run.sh build | run NAME... | all | list" >&2
    exit 2
    ;;
esac
say "passed"
