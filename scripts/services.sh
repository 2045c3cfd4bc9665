#!/usr/bin/env bash
# The services the test suite uses: PostgreSQL, and Redis for live progress.
# Start what is down, and stop again only what was started here, so that a
# test run leaves no daemon behind.
#
#   bash scripts/services.sh     # make sure PostgreSQL and Redis run, and leave them running
#   source scripts/services.sh   # only define the functions:
#       ensure_postgres          # start it if it is down; remember that we did
#       ensure_redis             # the same for Redis on 127.0.0.1:TASKFLOW_REDIS_PORT (6379)
#       stop_started_services    # stop what ensure_postgres and ensure_redis started
#
# The server probed is TASKFLOW_PG_HOST:TASKFLOW_PG_PORT (default
# 127.0.0.1:5432); test.sh sets them from TASKFLOW_TEST_POSTGRES_URL.

TASKFLOW_PG_HOST=${TASKFLOW_PG_HOST:-127.0.0.1}
TASKFLOW_PG_PORT=${TASKFLOW_PG_PORT:-5432}
TASKFLOW_SERVICE_WAIT=${TASKFLOW_SERVICE_WAIT:-30}
# Where Debian-style clusters are configured (<dir>/<version>/main).
TASKFLOW_PG_CLUSTERS=${TASKFLOW_PG_CLUSTERS:-/etc/postgresql}

TASKFLOW_REDIS_PORT=${TASKFLOW_REDIS_PORT:-6379}

# What ensure_postgres started: Debian cluster versions ("15"), stopped by
# stop_started_services; and the pid file of a Redis that ensure_redis started.
STARTED_PG_CLUSTERS=()
STARTED_REDIS_PIDFILE=""

# Plain TCP probe, used when the client tools are not installed.
_tcp_open() {
    (exec 3<>"/dev/tcp/$1/$2") >/dev/null 2>&1
}

postgres_up() {
    if command -v pg_isready >/dev/null 2>&1; then
        pg_isready -q -h "$TASKFLOW_PG_HOST" -p "$TASKFLOW_PG_PORT" >/dev/null 2>&1
    else
        _tcp_open "$TASKFLOW_PG_HOST" "$TASKFLOW_PG_PORT"
    fi
}

# _wait_for NAME CHECK_FUNCTION: poll for up to TASKFLOW_SERVICE_WAIT seconds.
_wait_for() {
    local name=$1 check=$2 i
    for ((i = 0; i < TASKFLOW_SERVICE_WAIT * 2; i++)); do
        "$check" && return 0
        sleep 0.5
    done
    echo "services: $name did not become ready within ${TASKFLOW_SERVICE_WAIT}s" >&2
    return 1
}

_missing_postgres() {
    echo "services: MISSING: PostgreSQL is not answering on $TASKFLOW_PG_HOST:$TASKFLOW_PG_PORT and $1." >&2
    echo "services: the tests on PostgreSQL need a server there that lets user postgres in without a password" >&2
    echo "services: (trust auth); start one, or point TASKFLOW_TEST_POSTGRES_URL at another." >&2
}

ensure_postgres() {
    postgres_up && return 0
    local local_host=0
    [[ $TASKFLOW_PG_HOST == 127.0.0.1 || $TASKFLOW_PG_HOST == localhost ]] && local_host=1
    if ((!local_host)); then
        _missing_postgres "it is not on this machine, so it is not started here"
        return 1
    fi
    if ! command -v pg_ctlcluster >/dev/null 2>&1; then
        _missing_postgres "it cannot be started here (no pg_ctlcluster: install the postgresql package)"
        return 1
    fi
    local conf version
    for conf in "$TASKFLOW_PG_CLUSTERS"/*/main; do
        [[ -d $conf ]] || continue
        version=${conf%/main}
        version=${version##*/}
        # Only the cluster that listens on the port the tests use.
        grep -Eq "^[[:space:]]*port[[:space:]]*=[[:space:]]*$TASKFLOW_PG_PORT\b" "$conf/postgresql.conf" 2>/dev/null \
            || continue
        echo "services: starting PostgreSQL $version (cluster main, port $TASKFLOW_PG_PORT); it is stopped again at the end"
        if pg_ctlcluster --skip-systemctl-redirect "$version" main start; then
            STARTED_PG_CLUSTERS+=("$version")
            _wait_for PostgreSQL postgres_up && return 0
            return 1
        fi
    done
    _missing_postgres "no PostgreSQL cluster on this machine could be started on port $TASKFLOW_PG_PORT"
    return 1
}

redis_up() {
    if command -v redis-cli >/dev/null 2>&1; then
        redis-cli -h 127.0.0.1 -p "$TASKFLOW_REDIS_PORT" ping >/dev/null 2>&1
    else
        _tcp_open 127.0.0.1 "$TASKFLOW_REDIS_PORT"
    fi
}

# Redis is optional: without it the tests of the Redis path skip.
ensure_redis() {
    redis_up && return 0
    if ! command -v redis-server >/dev/null 2>&1; then
        echo "services: Redis is not answering on 127.0.0.1:$TASKFLOW_REDIS_PORT and redis-server is not installed; the tests of live progress through Redis are skipped" >&2
        return 1
    fi
    local pidfile="${TMPDIR:-/tmp}/taskflow-redis-$TASKFLOW_REDIS_PORT.pid"
    echo "services: starting Redis on 127.0.0.1:$TASKFLOW_REDIS_PORT; it is stopped again at the end"
    redis-server --bind 127.0.0.1 --port "$TASKFLOW_REDIS_PORT" --daemonize yes \
        --save "" --appendonly no --pidfile "$pidfile" >/dev/null || return 1
    STARTED_REDIS_PIDFILE=$pidfile
    _wait_for Redis redis_up
}

# The dashboard's browser tests drive Debian's chromium through chromium-driver:
# installed here when missing (as root, without questions); they skip when not.
ensure_chromium() {
    command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1 && return 0
    local sudo=()
    if [[ $(id -u) != 0 ]]; then
        command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null && sudo=(sudo -n)
    fi
    if command -v apt-get >/dev/null 2>&1 && { [[ $(id -u) == 0 ]] || ((${#sudo[@]})); }; then
        echo "services: installing chromium and chromium-driver for the browser tests"
        DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -q chromium chromium-driver >/dev/null \
            || { "${sudo[@]}" apt-get update -q >/dev/null \
                && DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -q chromium chromium-driver >/dev/null; } \
            && return 0
    fi
    echo "services: chromium and chromium-driver are missing and could not be installed; the dashboard's browser tests are skipped" >&2
    return 1
}

stop_started_services() {
    if [[ -n $STARTED_REDIS_PIDFILE && -f $STARTED_REDIS_PIDFILE ]]; then
        echo "services: stopping Redis (started for this run)"
        kill "$(cat "$STARTED_REDIS_PIDFILE")" || echo "services: could not stop Redis" >&2
    fi
    STARTED_REDIS_PIDFILE=""
    local version
    for version in "${STARTED_PG_CLUSTERS[@]}"; do
        echo "services: stopping PostgreSQL $version (started for this run)"
        pg_ctlcluster --skip-systemctl-redirect "$version" main stop \
            || echo "services: could not stop PostgreSQL $version" >&2
    done
    STARTED_PG_CLUSTERS=()
}

if [[ ${BASH_SOURCE[0]} == "$0" ]]; then
    set -uo pipefail
    ensure_redis
    ensure_postgres
fi
