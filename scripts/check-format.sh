#!/usr/bin/env bash
# Every C source and header tracked by git is formatted as .clang-format says (LLVM base,
# 4-space indent, 90 columns). Prints the files that are not and exits 1; `clang-format -i`
# on them mends it. Run by scripts/test.sh.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

command -v clang-format >/dev/null 2>&1 || {
    echo "check-format: clang-format is not installed (scripts/packages-dev.txt lists it)" >&2
    exit 1
}
bad=()
while IFS= read -r f; do
    clang-format --dry-run --Werror "$f" >/dev/null 2>&1 || bad+=("$f")
done < <(git ls-files '*.c' '*.h')
if [ "${#bad[@]}" -gt 0 ]; then
    echo "check-format: not formatted as .clang-format says (run clang-format -i on them):" >&2
    printf '  %s\n' "${bad[@]}" >&2
    exit 1
fi
echo "check-format: $(git ls-files '*.c' '*.h' | wc -l) C files formatted"
