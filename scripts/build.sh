#!/usr/bin/env bash
# Configure and build tmdbq with CMake: the one build recipe, used by scripts/setup.sh, by
# scripts/test.sh (the sanitizer build) and by the Dockerfile (scripts/check-dockerfile.sh
# makes sure the Dockerfile keeps building through this script).
#
#   [TMDBQ_BUILD_TARGETS="T1 T2 ..."] scripts/build.sh [BUILD_DIR] [CMAKE_ARG...]
#
# BUILD_DIR defaults to build. TMDBQ_BUILD_TARGETS, when set, builds only those CMake
# targets (the image needs four programs, not the test suite); unset, everything is built.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

dir=${1:-build}
shift || true

targets=()
if [ -n "${TMDBQ_BUILD_TARGETS:-}" ]; then
    read -r -a names <<<"$TMDBQ_BUILD_TARGETS"
    targets=(--target "${names[@]}")
fi

cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@"
cmake --build "$dir" -j"$(nproc)" "${targets[@]}"
