#!/usr/bin/env bash
# Fail when the Dockerfile's build steps drift from the ones scripts/ use on a plain Debian
# 12 machine. No Docker engine is needed: the Dockerfile is parsed, not built.
#
#   scripts/check-dockerfile.sh [DOCKERFILE]        (default: the repository's Dockerfile)
#
# Checked, after joining the Dockerfile's continuation lines:
#   1. the builder stage is FROM debian:12, the last stage FROM debian:12-slim;
#   2. every `apt-get install` reads its packages, through xargs, from a
#      scripts/packages-*.txt or http/packages-*.txt list copied into the image, with
#      exactly the sed expression of setup.sh's read_list (so both read a list the same
#      way), and names no package itself; the builder installs scripts/packages-build.txt
#      and http/packages-build.txt (which setup.sh reads too), the last stage
#      scripts/packages-runtime.txt and http/packages-runtime.txt; no stage installs a
#      packages-dev.txt list (test tools and services, the dashboard test's browser:
#      setup.sh's, never an image's);
#   3. the builder compiles only through `bash scripts/build.sh DIR` (no cmake, make or
#      compiler of its own), from WORKDIR /src;
#   4. every program copied out of the builder is /src/DIR/SUBDIR/NAME where SUBDIR's
#      CMakeLists.txt has add_executable(NAME, NAME is in TMDBQ_BUILD_TARGETS (which
#      build.sh must honour), every such target is copied, and a program under tests/ is
#      not built with -DTMDBQ_BUILD_TESTS=OFF.
# Exit status: 0 consistent, 1 drift (every problem is printed), 2 a file is missing.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

dockerfile=${1:-Dockerfile}
problems=0
problem() {
    printf 'check-dockerfile: %s: %s\n' "$dockerfile" "$*" >&2
    problems=$((problems + 1))
}

for f in "$dockerfile" scripts/setup.sh scripts/build.sh; do
    [ -r "$f" ] || { printf 'check-dockerfile: cannot read %s\n' "$f" >&2; exit 2; }
done

# One instruction a line: comments dropped, backslash continuations joined, blanks squeezed
# (a quoted run of blanks would be squeezed too; the checks below need none).
mapfile -t instr < <(awk '
    /^[[:space:]]*#/ { next }
    {
        line = $0
        if (sub(/\\[[:space:]]*$/, "", line)) { acc = acc line " "; next }
        acc = acc line
        gsub(/[[:space:]]+/, " ", acc)
        sub(/^ /, "", acc)
        sub(/ $/, "", acc)
        if (acc != "") print acc
        acc = ""
    }
    END { if (acc ~ /[^[:space:]]/) print acc }' "$dockerfile")

# setup.sh's read_list: the sed program that turns a package list into names.
setup_sed=$(sed -n 's/^read_list() { \(sed .*\) "\$@"; }$/\1/p' scripts/setup.sh)
[ -n "$setup_sed" ] || problem "scripts/setup.sh has no read_list() { sed ... \"\$@\"; } line to compare with"

# Walk the instructions, keeping the stage and what was copied into it.
stage=-1
stage_from=()
stage_name=()
declare -A copied=()     # "stage:/tmp/packages-x.txt" -> scripts/packages-x.txt
declare -A installed=()  # "stage" -> the lists installed in it
build_runs=0
build_dir=
build_args=
targets=
workdir=
copies=()                # the builder's paths copied into the last stage
for line in "${instr[@]}"; do
    read -r -a words <<<"$line"
    keyword=${words[0]^^}
    case $keyword in
    FROM)
        stage=$((stage + 1))
        stage_from[stage]=${words[1]}
        stage_name[stage]=
        if [ "${#words[@]}" -ge 4 ] && [ "${words[2]^^}" = AS ]; then
            stage_name[stage]=${words[3]}
        fi
        ;;
    WORKDIR)
        [ "${stage_name[stage]:-}" = builder ] && workdir=${words[1]}
        ;;
    COPY)
        if [[ $line =~ ^COPY[[:space:]]+--from=builder[[:space:]]+([^[:space:]]+) ]]; then
            copies+=("${BASH_REMATCH[1]}")
        elif [[ $line =~ ^COPY[[:space:]]+((scripts|http)/packages-[a-z]+\.txt)[[:space:]]+([^[:space:]]+)$ ]]; then
            copied["$stage:${BASH_REMATCH[3]}"]=${BASH_REMATCH[1]}
        fi
        ;;
    RUN)
        if [[ $line == *"apt-get install"* ]]; then
            # Each install must be: sed PROGRAM /tmp/LIST | xargs apt-get install OPTIONS.
            re="sed (.*) ([^[:space:]]+) \| xargs apt-get install( -[-a-z=]+)*( &&|$)"
            if [[ $line =~ $re ]]; then
                prog=${BASH_REMATCH[1]}
                list=${BASH_REMATCH[2]}
                [ "$prog" = "${setup_sed#sed }" ] ||
                    problem "stage $stage reads $list with \`sed $prog\`, setup.sh with \`$setup_sed\`"
                if [ -n "${copied["$stage:$list"]:-}" ]; then
                    installed[$stage]+="${copied["$stage:$list"]} "
                else
                    problem "stage $stage installs from $list, which no COPY scripts/packages-*.txt put there"
                fi
                n=$(grep -o 'apt-get install' <<<"$line" | wc -l)
                [ "$n" -eq 1 ] || problem "stage $stage: $n apt-get installs in one RUN; one list each"
            else
                problem "stage $stage installs packages other than by 'sed ... LIST | xargs apt-get install': $line"
            fi
        fi
        re='(^|[[:space:];&|(])(cmake|make|ninja|gcc|cc|clang)([[:space:]]|$)'
        if [[ $line =~ $re ]]; then
            problem "stage $stage runs ${BASH_REMATCH[2]} itself; build through scripts/build.sh"
        fi
        if [[ $line == *scripts/build.sh* ]]; then
            re='^RUN ((TMDBQ_BUILD_TARGETS="([^"]*)"|TMDBQ_BUILD_TARGETS=([^[:space:]]*))[[:space:]]+)?bash scripts/build.sh[[:space:]]+([^[:space:]]+)(.*)$'
            if [[ $line =~ $re ]]; then
                build_runs=$((build_runs + 1))
                targets="${BASH_REMATCH[3]}${BASH_REMATCH[4]}"
                build_dir=${BASH_REMATCH[5]}
                build_args=${BASH_REMATCH[6]}
                [ "${stage_name[stage]:-}" = builder ] || problem "scripts/build.sh runs outside the builder stage"
            else
                problem "scripts/build.sh is not run as '[TMDBQ_BUILD_TARGETS=\"...\"] bash scripts/build.sh DIR [ARGS]': $line"
            fi
        fi
        ;;
    esac
done

last=$stage
if [ "$last" -lt 1 ]; then
    problem "want two stages (builder on debian:12, runtime on debian:12-slim), found $((last + 1))"
else
    builder=-1
    for i in $(seq 0 "$last"); do
        [ "${stage_name[i]}" = builder ] && builder=$i
    done
    if [ "$builder" -lt 0 ]; then
        problem "no stage named builder"
    else
        [ "${stage_from[builder]}" = debian:12 ] ||
            problem "the builder stage is FROM ${stage_from[builder]}, scripts/ target debian:12"
        for l in scripts/packages-build.txt http/packages-build.txt; do
            [[ " ${installed[$builder]:-} " == *" $l "* ]] ||
                problem "the builder stage does not install $l"
        done
        grep -q 'http/packages-build.txt' scripts/setup.sh ||
            problem "scripts/setup.sh does not read http/packages-build.txt, which the builder installs"
    fi
    [ "${stage_from[last]}" = debian:12-slim ] ||
        problem "the last stage is FROM ${stage_from[last]}, want debian:12-slim"
    for l in scripts/packages-runtime.txt http/packages-runtime.txt; do
        [[ " ${installed[$last]:-} " == *" $l "* ]] ||
            problem "the last stage does not install $l"
    done
fi

for l in "${copied[@]}"; do
    [ -r "$l" ] || problem "copies $l, which does not exist"
done
for i in $(seq 0 "$last"); do
    for l in ${installed[$i]:-}; do
        case $l in
        */packages-dev.txt)
            problem "stage $i installs $l: test-only packages (a browser among them) stay out of images" ;;
        esac
    done
done

[ "$build_runs" -eq 1 ] || problem "runs scripts/build.sh $build_runs times, want once"
[ "$workdir" = /src ] || problem "the builder's WORKDIR is '$workdir', want /src"
grep -q 'TMDBQ_BUILD_TARGETS' scripts/build.sh ||
    problem "scripts/build.sh ignores TMDBQ_BUILD_TARGETS"

read -r -a target_list <<<"$targets"
declare -A wanted=()
for t in "${target_list[@]}"; do
    wanted[$t]=1
done
declare -A seen=()
for src in "${copies[@]}"; do
    prefix="/src/$build_dir/"
    if [[ $src != "$prefix"* ]]; then
        problem "copies $src from the builder, outside its build directory $prefix"
        continue
    fi
    rel=${src#"$prefix"}
    name=${rel##*/}
    subdir=.
    [[ $rel == */* ]] && subdir=${rel%/*}
    seen[$name]=1
    if [ ! -r "$subdir/CMakeLists.txt" ] ||
        ! grep -Eq "add_executable\\($name([[:space:]]|\\))" "$subdir/CMakeLists.txt"; then
        problem "copies $src, but $subdir/CMakeLists.txt has no add_executable($name"
    fi
    if [ -n "$targets" ] && [ -z "${wanted[$name]:-}" ]; then
        problem "copies $name, which is not in TMDBQ_BUILD_TARGETS ($targets)"
    fi
    if [[ $subdir == tests || $subdir == tests/* ]] &&
        [[ $build_args =~ -DTMDBQ_BUILD_TESTS=(OFF|NO|FALSE|0|off|no|false) ]]; then
        problem "copies $name from tests/, which -DTMDBQ_BUILD_TESTS=${BASH_REMATCH[1]} does not build"
    fi
done
for t in "${target_list[@]}"; do
    [ -n "${seen[$t]:-}" ] || problem "builds $t (TMDBQ_BUILD_TARGETS) but never copies it"
done

if [ "$problems" -gt 0 ]; then
    printf 'check-dockerfile: %d problem(s): the Dockerfile drifted from scripts/\n' "$problems" >&2
    exit 1
fi
printf 'check-dockerfile: %s builds like scripts/ (%d stages, build.sh %s, %d programs)\n' \
    "$dockerfile" "$((last + 1))" "$build_dir" "${#copies[@]}"
