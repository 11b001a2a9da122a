#!/usr/bin/env bash
# The test command (CI runs it through .ci/run with CI=true):
#   1. scripts/setup.sh: packages, services, database role, build into build/;
#   2. every test, unit and integration: ctest in build/;
#   3. the unit tests again under AddressSanitizer + UBSan, built into build-asan/;
#   4. docker-compose.yml checked by `docker-compose config -q` (when installed);
#   5. the shell scripts checked by shellcheck;
#   6. every C file formatted as .clang-format says (scripts/check-format.sh).
# Exits non-zero on any failure. With CI=true an integration test that skips (a service
# is missing) is a failure too.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

say() { printf 'test: %s\n' "$*"; }
fail() { printf 'test: FAILED: %s\n' "$*" >&2; exit 1; }

ci=false
[ "${CI:-}" = true ] && ci=true

log_dir=$(mktemp -d /tmp/tmdbq-test.XXXXXX)
trap 'rm -rf "$log_dir"' EXIT

# Run a ctest command, show its output, fail on failure, and in CI on any skipped test.
run_ctest() {
    local name=$1 rc=0
    shift
    ctest "$@" 2>&1 | tee "$log_dir/$name.log" || rc=$?
    [ "$rc" -eq 0 ] || fail "ctest ($name) exited with status $rc"
    if grep -qE '\*\*\*Skipped|Not Run|tests did not run' "$log_dir/$name.log"; then
        if [ "$ci" = true ]; then
            fail "ctest ($name): tests were skipped or not run, and CI=true forbids that"
        fi
        say "note: some tests were skipped (a service is missing?); CI would fail here"
    fi
}

say "setup"
bash scripts/setup.sh

say "all tests (build/)"
run_ctest all --test-dir build --output-on-failure --no-tests=error -j2 --timeout 300

say "unit tests under ASan+UBSan (build-asan/)"
bash scripts/build.sh build-asan -DTMDBQ_SANITIZE=ON
ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=0:detect_leaks=1:strict_string_checks=1} \
UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1} \
    run_ctest asan --test-dir build-asan -L unit --output-on-failure --no-tests=error -j2 \
        --timeout 300

if command -v docker-compose >/dev/null 2>&1; then
    say "docker-compose config -q"
    docker-compose -f docker-compose.yml config -q || fail "docker-compose.yml is invalid"
elif [ "$ci" = true ]; then
    fail "docker-compose is missing although CI=true (scripts/setup.sh installs it)"
else
    say "note: docker-compose not installed, docker-compose.yml not checked" \
        "(TMDBQ_CHECK_COMPOSE=1 bash scripts/setup.sh installs it)"
fi

say "Dockerfile against scripts/"
bash scripts/check-dockerfile.sh || fail "the Dockerfile's build steps drifted from scripts/"

say "clang-format"
bash scripts/check-format.sh || fail "C files are not formatted (clang-format -i them)"

if command -v shellcheck >/dev/null 2>&1; then
    say "shellcheck"
    shellcheck scripts/*.sh bench/*.sh tests/fuzz/run.sh .ci/run || fail "shellcheck found problems"
else
    say "note: shellcheck not installed, scripts not linted"
fi

say "all passed"
