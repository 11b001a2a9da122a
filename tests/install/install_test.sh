#!/usr/bin/env bash
# The installed C library works for an application that has nothing but the installed tree:
#   1. `cmake --install BUILD_DIR` into a fresh temporary prefix;
#   2. the installed files are there, libtmdbq.so and libtmdbq.a export tmdbq_* only, and
#      tmdbq.h compiles on its own (C11 with the project's warnings, and as C++);
#   3. the example installed under share/doc is compiled with `pkg-config --cflags --libs
#      tmdbq` only (PKG_CONFIG_PATH=<prefix>/lib/pkgconfig), and once more with libtmdbq.a
#      and the libraries of tmdbq.pc's Requires.private;
#   4. both programs run against the real services (RUN_EXAMPLE: tests/install's driver,
#      a database and AMQP prefix of their own).
#
#   install_test.sh BUILD_DIR CC RUN_EXAMPLE
#
# Exit status: 0 ok, 1 a check failed, 77 (skip) when the driver skips (services missing
# and CI not set). The prefix is removed at exit unless TMDBQ_TEST_KEEP is set.
set -euo pipefail

build_dir=$1
cc=$2
run_example=$3

fail() { printf 'install_test: FAILED: %s\n' "$*" >&2; exit 1; }
say() { printf 'install_test: %s\n' "$*"; }

prefix=$(mktemp -d "${TMPDIR:-/tmp}/tmdbq-install.XXXXXX")
cleanup() {
    if [ -n "${TMDBQ_TEST_KEEP:-}" ]; then
        say "kept $prefix"
    else
        rm -rf "$prefix"
    fi
}
trap cleanup EXIT

say "cmake --install $build_dir --prefix $prefix"
cmake --install "$build_dir" --prefix "$prefix" >"$prefix/install.log" ||
    { cat "$prefix/install.log" >&2; fail "cmake --install failed"; }

for f in include/tmdbq.h lib/libtmdbq.so lib/libtmdbq.a lib/pkgconfig/tmdbq.pc \
         bin/tmdbq share/doc/tmdbq/examples/enqueue_and_show.c; do
    [ -e "$prefix/$f" ] || fail "$f was not installed"
done
soname=$(objdump -p "$prefix/lib/libtmdbq.so" | awk '$1 == "SONAME" {print $2}')
if [ -z "$soname" ] || [ ! -e "$prefix/lib/$soname" ]; then
    fail "no installed file for SONAME '$soname'"
fi

# Only the API's names may be visible to an application: common/ has generic ones
# (migrations, status_name, log_write, ...).
leaked=$(nm -D --defined-only "$prefix/lib/libtmdbq.so" | awk 'NF == 3 {print $3}' |
         grep -v '^tmdbq_' || true)
[ -z "$leaked" ] || fail "libtmdbq.so exports more than tmdbq_*: $(echo "$leaked" | head -5)"
leaked=$(nm -g --defined-only "$prefix/lib/libtmdbq.a" | awk 'NF == 3 {print $3}' |
         grep -v '^tmdbq_' || true)
[ -z "$leaked" ] || fail "libtmdbq.a exports more than tmdbq_*: $(echo "$leaked" | head -5)"

export PKG_CONFIG_PATH="$prefix/lib/pkgconfig"
pc_prefix=$(pkg-config --variable=prefix tmdbq)
[ "$pc_prefix" = "$prefix" ] || fail "tmdbq.pc has prefix '$pc_prefix', not '$prefix'"
cflags=$(pkg-config --cflags tmdbq)
libs=$(pkg-config --libs tmdbq)
# libtmdbq.a with its dependencies as shared libraries: the libraries of Requires.private.
# (`pkg-config --static` would ask for static builds of those too, and Debian's libpq.pc
# then names libpgcommon and libpgport, which libpq-dev does not ship.)
deps=$(pkg-config --print-requires-private tmdbq | tr '\n' ' ')
[ "$deps" = "libpq librabbitmq jansson libcurl " ] ||
    fail "tmdbq.pc Requires.private is '$deps'"
# shellcheck disable=SC2086
static_libs=$(pkg-config --libs $deps)
say "pkg-config --cflags: $cflags"
say "pkg-config --libs: $libs"
say "libtmdbq.a and: $static_libs"

# The header stands alone: nothing but itself included, in C11 and in C++.
warn=(-Wall -Wextra -Wpedantic -Wshadow -Wstrict-prototypes -Werror)
printf '#include <tmdbq.h>\nint main(void) { return TMDBQ_OK; }\n' >"$prefix/alone.c"
# shellcheck disable=SC2086 # pkg-config output is a list of words
"$cc" -std=c11 "${warn[@]}" $cflags -c "$prefix/alone.c" -o "$prefix/alone.o" ||
    fail "tmdbq.h does not compile on its own as C11"
if command -v c++ >/dev/null 2>&1; then
    # shellcheck disable=SC2086
    c++ -std=c++11 -Wall -Wextra -Werror $cflags -x c++ -c "$prefix/alone.c" \
        -o "$prefix/alone_cxx.o" || fail "tmdbq.h does not compile as C++"
fi

src="$prefix/share/doc/tmdbq/examples/enqueue_and_show.c"
say "building the example against the installed shared library"
# shellcheck disable=SC2086
"$cc" -std=c11 "${warn[@]}" $cflags -o "$prefix/example_shared" "$src" $libs ||
    fail "the example does not build with pkg-config --cflags --libs tmdbq"
# It must load the installed library, not one from the build tree.
loaded=$(LD_LIBRARY_PATH="$prefix/lib" ldd "$prefix/example_shared" |
         awk '$1 ~ /^libtmdbq\.so/ {print $3}')
[ "$loaded" = "$prefix/lib/$soname" ] || fail "the example loads '$loaded', not $prefix/lib/$soname"

say "building the example against the installed static library"
# shellcheck disable=SC2086
"$cc" -std=c11 "${warn[@]}" $cflags -o "$prefix/example_static" "$src" \
    "$prefix/lib/libtmdbq.a" $static_libs ||
    fail "the example does not build against libtmdbq.a"
if ldd "$prefix/example_static" | grep -q 'libtmdbq\.so'; then
    fail "the static example still needs libtmdbq.so"
fi

rc=0
say "running the example (shared)"
LD_LIBRARY_PATH="$prefix/lib" "$run_example" "$prefix/example_shared" install_shared ||
    rc=$?
[ "$rc" -eq 0 ] || { [ "$rc" -eq 77 ] && exit 77; fail "the shared example's run (status $rc)"; }
say "running the example (static)"
"$run_example" "$prefix/example_static" install_static || rc=$?
[ "$rc" -eq 0 ] || { [ "$rc" -eq 77 ] && exit 77; fail "the static example's run (status $rc)"; }
say "ok"
