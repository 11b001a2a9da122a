# What the scripts here share; sourced (not run) after PROG is set to the name their
# messages start with.
# shellcheck shell=bash
# shellcheck disable=SC2034 # SUDO is for the scripts that source this one

# say: a line for people on stdout; die: "<PROG>: error: ..." on stderr, and exit 1.
say() { printf '%s: %s\n' "$PROG" "$*"; }
die() { printf '%s: error: %s\n' "$PROG" "$*" >&2; exit 1; }

# SUDO: what goes before a command that needs root: nothing as root, else sudo; without
# sudo, die with $1.
need_root() {
    SUDO=()
    if [ "$(id -u)" -ne 0 ]; then
        command -v sudo >/dev/null 2>&1 || die "$1"
        SUDO=(sudo)
    fi
}
