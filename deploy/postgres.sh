#!/usr/bin/env bash
# A private PostgreSQL cluster on 127.0.0.1 for the auditor store's tests and local use.
#
#   deploy/postgres.sh start    install PostgreSQL if missing (apt, as root), initdb once, start
#   deploy/postgres.sh stop     fast shutdown
#   deploy/postgres.sh status   exit 0 if it accepts connections, 1 otherwise
#   deploy/postgres.sh url      print the connection URL (postgresql://broker@127.0.0.1:5433/broker)
#
# The cluster runs as the unprivileged `postgres` system user (never as root), listens only on
# 127.0.0.1 and its socket directory, and trusts local connections: it is a test cluster
# holding nothing but test data. Starting or stopping twice is harmless.
#
# Environment:
#   PG_PORT       default 5433 (5432 is left to a system cluster)
#   PG_DATA_DIR   default var/postgres (git-ignored); holds data/, the socket and postgres.log
set -euo pipefail

SCRIPT_DIR="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd -P)"
REPO_DIR="$(cd -- "$SCRIPT_DIR/.." && pwd -P)"
PORT="${PG_PORT:-5433}"
BASE="${PG_DATA_DIR:-$REPO_DIR/var/postgres}"
DATA="$BASE/data"
SOCKET="$BASE/run"
LOG="$BASE/postgres.log"
RUN_AS=postgres
DB=broker

die() { echo "postgres.sh: $*" >&2; exit 1; }
say() { echo "postgres.sh: $*"; }

[[ "$PORT" =~ ^[0-9]+$ ]] || die "PG_PORT must be a port number, got '$PORT'"

bindir() {
    local d
    for d in /usr/lib/postgresql/*/bin; do
        [[ -x "$d/pg_ctl" ]] && echo "$d"
    done | sort -V | tail -n 1
}

install() {
    [[ -n "$(bindir)" ]] && return 0
    [[ $EUID -eq 0 ]] || die "PostgreSQL is not installed; run as root once to install it"
    say "installing PostgreSQL (apt-get)"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
    [[ -n "$(bindir)" ]] || die "apt-get installed no pg_ctl"
}

# Run a PostgreSQL program as the cluster's owner (we may already be that user).
as_owner() {
    if [[ "$(id -un)" == "$RUN_AS" ]]; then "$@"
    elif [[ $EUID -eq 0 ]]; then runuser -u "$RUN_AS" -- "$@"
    else die "run as root or as $RUN_AS"
    fi
}

ready() {
    local bin
    bin="$(bindir)"
    [[ -n "$bin" ]] && "$bin/pg_isready" -q -h 127.0.0.1 -p "$PORT" -t 2
}

start() {
    install
    local bin
    bin="$(bindir)"
    if ready; then say "already running on 127.0.0.1:$PORT"; return 0; fi
    mkdir -p "$BASE"
    chown "$RUN_AS": "$BASE"
    chmod 0700 "$BASE"
    if [[ ! -f "$DATA/PG_VERSION" ]]; then
        say "initdb $DATA"
        as_owner "$bin/initdb" -D "$DATA" -U broker --auth=trust -E UTF8 --locale=C.UTF-8 >/dev/null
    fi
    as_owner mkdir -p "$SOCKET"
    as_owner "$bin/pg_ctl" -D "$DATA" -l "$LOG" -w -t 60 \
        -o "-p $PORT -c listen_addresses=127.0.0.1 -c unix_socket_directories=$SOCKET" start >/dev/null \
        || die "did not start; see $LOG"
    if ! "$bin/psql" -h 127.0.0.1 -p "$PORT" -U broker -d postgres -tAc \
        "SELECT 1 FROM pg_database WHERE datname = '$DB'" | grep -q 1; then
        "$bin/createdb" -h 127.0.0.1 -p "$PORT" -U broker "$DB"
    fi
    say "running on 127.0.0.1:$PORT ($(url))"
}

stop() {
    local bin
    bin="$(bindir)"
    if [[ -z "$bin" || ! -f "$DATA/postmaster.pid" ]]; then say "not running"; return 0; fi
    as_owner "$bin/pg_ctl" -D "$DATA" -m fast -w stop >/dev/null
    say "stopped"
}

url() { echo "postgresql://broker@127.0.0.1:$PORT/$DB"; }

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    status) if ready; then say "running on 127.0.0.1:$PORT"; else say "not running"; exit 1; fi ;;
    url) url ;;
    *) die "usage: $0 start|stop|status|url" ;;
esac
