#!/usr/bin/env bash
# Install the Prism mock server that the contract test (ctest contract.prism) runs: the
# version tests/contract/package.json pins, exactly as tests/contract/package-lock.json
# locks it, with `npm ci` into BUILD_DIR/prism (git ignores build/ and build-*/), where
# tests/contract/CMakeLists.txt looks for it. Idempotent: when that version is already
# installed from the same lock, nothing is done. When node or npm is missing, Debian's
# nodejs and npm are installed first (as root, or through sudo).
#
#   scripts/prism.sh [BUILD_DIR]     (BUILD_DIR defaults to build)
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

# shellcheck disable=SC2034 # PROG: the name scripts/lib.sh's messages start with
PROG=prism
# shellcheck source=scripts/lib.sh disable=SC1091
. scripts/lib.sh

src=tests/contract
dest=${1:-build}/prism
bin=$dest/node_modules/.bin/prism
pkg=@stoplight/prism-cli

if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    need_root "node and npm are missing: run as root (or install sudo) to get Debian's"
    say "installing Debian's nodejs and npm"
    "${SUDO[@]}" apt-get update -q >/dev/null
    "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -q --no-install-recommends --no-upgrade nodejs npm >/dev/null
fi

# Prism 5.14 declares Node.js >= 18.20.1 (Debian 12's own nodejs is 18.19): say so, but
# try anyway, since the declaration is stricter than what Prism uses.
if ! node -e 'const [a, b] = process.versions.node.split(".").map(Number);
              process.exit(a > 18 || (a === 18 && b >= 20) ? 0 : 1)'; then
    say "warning: Node.js $(node --version) is older than the 18.20.1 that Prism asks for"
fi

# json_get FILE KEY...: the value at that key path in the JSON file FILE.
json_get() {
    node -e 'let d = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
             for (const k of process.argv.slice(2)) d = d[k];
             process.stdout.write(String(d));' "$@"
}

wanted=$(json_get "$src/package.json" dependencies "$pkg")
installed=
if [ -f "$dest/node_modules/$pkg/package.json" ]; then
    installed=$(json_get "$dest/node_modules/$pkg/package.json" version 2>/dev/null || true)
fi
if [ "$installed" = "$wanted" ] && [ -x "$bin" ] &&
    cmp -s "$src/package-lock.json" "$dest/package-lock.json"; then
    say "Prism $wanted already installed in $dest"
    exit 0
fi

say "installing Prism $wanted into $dest (npm ci)"
mkdir -p "$dest"
cp "$src/package.json" "$src/package-lock.json" "$dest/"
# A failed install must not pass the check above next time: drop the lock copy.
if ! (cd "$dest" && npm ci --no-audit --no-fund --loglevel=error); then
    rm -f "$dest/package-lock.json"
    die "npm ci failed in $dest"
fi
got=$("$bin" --version 2>/dev/null || true)
if [ "$got" != "$wanted" ]; then
    rm -f "$dest/package-lock.json"
    die "$bin reports version '$got', expected $wanted"
fi
say "Prism $got installed: $bin"
