#!/usr/bin/env bash
# Configure and build tmdbq with CMake: the one build recipe, used by scripts/setup.sh, by
# scripts/test.sh (the sanitizer build) and by the Dockerfile.
#
#   scripts/build.sh [BUILD_DIR] [CMAKE_ARG...]     (BUILD_DIR defaults to build)
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

dir=${1:-build}
shift || true

cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@"
cmake --build "$dir" -j"$(nproc)"
