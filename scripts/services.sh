#!/usr/bin/env bash
# Start, stop or show the local PostgreSQL 15 cluster and RabbitMQ that tmdbq talks to,
# on a Debian machine without an init system (a developer box, a container, CI).
#
#   scripts/services.sh start    start whichever is not running, wait until both answer
#   scripts/services.sh stop     stop only what `start` started (see the state dir)
#   scripts/services.sh status   show both
#
# Services that were already running are left alone: `stop` never touches them, and no
# process is ever killed by name. State dir: $TMDBQ_SERVICES_STATE (default
# /tmp/tmdbq-services); one file per service that this script started.
# Other knobs: TMDBQ_PG_VERSION (15), TMDBQ_PG_CLUSTER (main), TMDBQ_PG_WAIT (60 s),
# TMDBQ_RABBIT_WAIT (120 s), TMDBQ_RABBIT_PORT (5672), TMDBQ_RABBIT_UI_PORT (15672); the
# RabbitMQ tools follow RABBITMQ_NODENAME and the other RABBITMQ_* variables as usual.
set -euo pipefail

PG_VERSION=${TMDBQ_PG_VERSION:-15}
PG_CLUSTER=${TMDBQ_PG_CLUSTER:-main}
STATE_DIR=${TMDBQ_SERVICES_STATE:-/tmp/tmdbq-services}
PG_WAIT=${TMDBQ_PG_WAIT:-60}
RABBIT_WAIT=${TMDBQ_RABBIT_WAIT:-120}
RABBIT_PORT=${TMDBQ_RABBIT_PORT:-5672}
RABBIT_UI_PORT=${TMDBQ_RABBIT_UI_PORT:-15672}

# shellcheck disable=SC2034 # PROG: the name scripts/lib.sh's messages start with
PROG=services
# shellcheck source=scripts/lib.sh disable=SC1091
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# pg_ctlcluster and the RabbitMQ tools need root (they switch to the service user).
need_root "run as root (or install sudo)"

pg_running() {
    # pg_ctlcluster status: 0 running, 3 stopped, 4 no such cluster.
    "${SUDO[@]}" pg_ctlcluster "$PG_VERSION" "$PG_CLUSTER" status >/dev/null 2>&1
}

pg_exists() {
    [ -n "$(pg_lsclusters -h 2>/dev/null | awk -v v="$PG_VERSION" -v c="$PG_CLUSTER" \
        '$1 == v && $2 == c')" ]
}

pg_port() {
    pg_lsclusters -h 2>/dev/null | awk -v v="$PG_VERSION" -v c="$PG_CLUSTER" \
        '$1 == v && $2 == c { print $3 }'
}

rabbit_running() {
    "${SUDO[@]}" timeout 60 rabbitmqctl -q status >/dev/null 2>&1
}

port_open() {
    # bash's /dev/tcp: a refused connection fails at once, timeout bounds a silent one.
    timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null
}

start_postgres() {
    command -v pg_ctlcluster >/dev/null 2>&1 ||
        die "PostgreSQL is not installed (run scripts/setup.sh)"
    if ! pg_exists; then
        say "creating PostgreSQL cluster $PG_VERSION/$PG_CLUSTER"
        "${SUDO[@]}" pg_createcluster "$PG_VERSION" "$PG_CLUSTER" >/dev/null
    fi
    if pg_running; then
        say "PostgreSQL $PG_VERSION/$PG_CLUSTER already running"
    else
        say "starting PostgreSQL $PG_VERSION/$PG_CLUSTER"
        "${SUDO[@]}" pg_ctlcluster "$PG_VERSION" "$PG_CLUSTER" start
        mkdir -p "$STATE_DIR"
        printf '%s %s\n' "$PG_VERSION" "$PG_CLUSTER" >"$STATE_DIR/postgresql"
    fi
    local port i
    port=$(pg_port)
    for ((i = 0; i < PG_WAIT; i++)); do
        if pg_isready -q -h localhost -p "${port:-5432}"; then
            say "PostgreSQL answers on localhost:${port:-5432}"
            return 0
        fi
        sleep 1
    done
    die "PostgreSQL did not answer on localhost:${port:-5432} within ${PG_WAIT}s" \
        "(see /var/log/postgresql/postgresql-$PG_VERSION-$PG_CLUSTER.log)"
}

start_rabbitmq() {
    command -v rabbitmq-server >/dev/null 2>&1 ||
        die "RabbitMQ is not installed (run scripts/setup.sh)"
    if rabbit_running; then
        say "RabbitMQ already running"
    else
        say "starting RabbitMQ (management plugin enabled)"
        "${SUDO[@]}" rabbitmq-plugins enable --offline rabbitmq_management >/dev/null
        "${SUDO[@]}" rabbitmq-server -detached
        mkdir -p "$STATE_DIR"
        date -u +%Y-%m-%dT%H:%M:%SZ >"$STATE_DIR/rabbitmq"
    fi
    # A node just started detached is unknown to epmd for a moment, and await_startup
    # fails at once on a node it cannot reach: retry it until the deadline.
    local i deadline=$((SECONDS + RABBIT_WAIT))
    until "${SUDO[@]}" timeout "$RABBIT_WAIT" rabbitmqctl -q await_startup \
        >/dev/null 2>&1; do
        [ "$SECONDS" -lt "$deadline" ] ||
            die "RabbitMQ did not finish starting within ${RABBIT_WAIT}s" \
                "(see /var/log/rabbitmq/)"
        sleep 2
    done
    for ((i = 0; i < 30; i++)); do
        if port_open "$RABBIT_PORT"; then
            say "RabbitMQ answers on localhost:$RABBIT_PORT"
            return 0
        fi
        sleep 1
    done
    die "RabbitMQ is up but port $RABBIT_PORT does not accept connections"
}

stop_all() {
    if [ -f "$STATE_DIR/rabbitmq" ]; then
        say "stopping RabbitMQ (started by this script)"
        "${SUDO[@]}" timeout "$RABBIT_WAIT" rabbitmqctl -q stop >/dev/null ||
            die "rabbitmqctl stop failed"
        rm -f "$STATE_DIR/rabbitmq"
    else
        say "RabbitMQ: not started by this script, left alone"
    fi
    if [ -f "$STATE_DIR/postgresql" ]; then
        say "stopping PostgreSQL $PG_VERSION/$PG_CLUSTER (started by this script)"
        "${SUDO[@]}" pg_ctlcluster "$PG_VERSION" "$PG_CLUSTER" stop
        rm -f "$STATE_DIR/postgresql"
    else
        say "PostgreSQL: not started by this script, left alone"
    fi
}

show_status() {
    local pg="not installed" rmq="not installed" by
    if command -v pg_ctlcluster >/dev/null 2>&1; then
        if pg_running; then
            pg="running on port $(pg_port)"
            pg_isready -q -h localhost -p "$(pg_port)" && pg="$pg, accepting connections"
        elif pg_exists; then
            pg="stopped"
        else
            pg="no cluster $PG_VERSION/$PG_CLUSTER"
        fi
    fi
    by=""
    [ -f "$STATE_DIR/postgresql" ] && by=" (started by scripts/services.sh)"
    printf 'PostgreSQL %s/%s: %s%s\n' "$PG_VERSION" "$PG_CLUSTER" "$pg" "$by"

    if command -v rabbitmqctl >/dev/null 2>&1; then
        if rabbit_running; then
            rmq="running"
            port_open "$RABBIT_PORT" && rmq="$rmq, accepting connections on $RABBIT_PORT"
            port_open "$RABBIT_UI_PORT" &&
                rmq="$rmq, management UI on http://localhost:$RABBIT_UI_PORT"
        else
            rmq="stopped"
        fi
    fi
    by=""
    [ -f "$STATE_DIR/rabbitmq" ] && by=" (started by scripts/services.sh)"
    printf 'RabbitMQ: %s%s\n' "$rmq" "$by"
}

case "${1:-}" in
start)
    start_postgres
    start_rabbitmq
    ;;
stop)
    stop_all
    ;;
status)
    show_status
    ;;
*)
    printf 'usage: %s start|stop|status\n' "$0" >&2
    exit 2
    ;;
esac
