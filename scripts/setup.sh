#!/usr/bin/env bash
# Make this Debian 12 machine ready to build, test and demo tmdbq, from nothing or again:
#   1. install the Debian packages of scripts/packages-{build,dev}.txt and
#      http/packages-{build,dev}.txt that are missing
#      (in CI, CI=true: always apt-get update and install, so a fresh machine is covered;
#      --no-upgrade: an installed package is never upgraded, nor its service restarted);
#   2. start PostgreSQL and RabbitMQ (scripts/services.sh start);
#   3. create the PostgreSQL role tmdbq (password tmdbq) and database tmdbq if missing;
#   4. build into build/ (scripts/build.sh).
# Every step is idempotent. docker-compose is installed too when CI=true or
# TMDBQ_CHECK_COMPOSE=1, so scripts/test.sh can validate docker-compose.yml.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

# shellcheck disable=SC2034 # PROG: the name scripts/lib.sh's messages start with
PROG=setup
# shellcheck source=scripts/lib.sh disable=SC1091
. scripts/lib.sh

need_root "run as root (or install sudo)"

# One package a line; '#' starts a comment.
read_list() { sed -e 's/#.*//' -e 's/[[:space:]]//g' -e '/^$/d' "$@"; }

# tmdbq-http's HTTP server library (libmicrohttpd-dev) is listed in http/packages-build.txt,
# which the Dockerfile reads too; the browser its dashboard test drives (Chromium, test
# only, never in an image) in http/packages-dev.txt.
mapfile -t packages < <(read_list scripts/packages-build.txt scripts/packages-dev.txt \
    http/packages-build.txt http/packages-dev.txt)
if [ "${CI:-}" = true ] || [ "${TMDBQ_CHECK_COMPOSE:-}" = 1 ]; then
    packages+=(docker-compose)
fi

missing=()
for p in "${packages[@]}"; do
    status=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
    [ "$status" = installed ] || missing+=("$p")
done

if [ "${CI:-}" = true ] || [ "${#missing[@]}" -gt 0 ]; then
    if [ "${#missing[@]}" -gt 0 ]; then
        say "installing ${missing[*]}"
    else
        say "CI: refreshing the package index and checking ${#packages[@]} packages"
    fi
    "${SUDO[@]}" apt-get update -q >/dev/null
    "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -q --no-install-recommends --no-upgrade "${packages[@]}" >/dev/null
else
    say "all ${#packages[@]} Debian packages present"
fi

bash scripts/services.sh start

# Run from / so that psql as postgres does not complain about a checkout it cannot enter.
as_postgres() {
    if [ "$(id -u)" -eq 0 ]; then
        (cd / && runuser -u postgres -- "$@")
    else
        (cd / && sudo -u postgres -- "$@")
    fi
}

# The psql of the cluster's owner, over the local socket: no password needed.
pg_query() { as_postgres psql -X -q -t -A -v ON_ERROR_STOP=1 -d postgres -c "$1"; }

if [ "$(pg_query "SELECT 1 FROM pg_roles WHERE rolname = 'tmdbq'")" = 1 ]; then
    say "PostgreSQL role tmdbq exists"
else
    say "creating PostgreSQL role tmdbq"
    pg_query "CREATE ROLE tmdbq LOGIN CREATEDB PASSWORD 'tmdbq'"
fi
# The integration tests create a database each, so the role needs CREATEDB; make sure of
# both attributes without touching the password of an existing role.
pg_query "ALTER ROLE tmdbq LOGIN CREATEDB"

if [ "$(pg_query "SELECT 1 FROM pg_database WHERE datname = 'tmdbq'")" = 1 ]; then
    say "PostgreSQL database tmdbq exists"
else
    say "creating PostgreSQL database tmdbq"
    as_postgres createdb -O tmdbq tmdbq
fi

if ! PGPASSWORD=tmdbq PGCONNECT_TIMEOUT=5 psql -X -q -h localhost -U tmdbq -d tmdbq \
    -c 'SELECT 1' >/dev/null 2>&1; then
    die "cannot log in as tmdbq/tmdbq on localhost:5432" \
        "(if the role's password was changed: ALTER ROLE tmdbq PASSWORD 'tmdbq')"
fi
say "tmdbq can log in to postgresql://tmdbq:***@localhost:5432/tmdbq"

# Prism, for the TMDB contract test (tests/contract): pinned, installed into build/prism.
bash scripts/prism.sh build

say "building into build/"
bash scripts/build.sh build
say "done: build/producer/tmdbq"
