#!/usr/bin/env bash
# Make sure the local PostgreSQL (127.0.0.1:5432) and Redis (127.0.0.1:6379)
# used by the test suite are running, starting them when they are down.
#
#   bash scripts/services.sh          # ensure both
#   source scripts/services.sh        # only define the functions:
#   ensure_postgres; ensure_redis; ensure_services

TASKFLOW_PG_HOST=${TASKFLOW_PG_HOST:-127.0.0.1}
TASKFLOW_PG_PORT=${TASKFLOW_PG_PORT:-5432}
TASKFLOW_REDIS_HOST=${TASKFLOW_REDIS_HOST:-127.0.0.1}
TASKFLOW_REDIS_PORT=${TASKFLOW_REDIS_PORT:-6379}
TASKFLOW_SERVICE_WAIT=${TASKFLOW_SERVICE_WAIT:-30}

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

redis_up() {
    if command -v redis-cli >/dev/null 2>&1; then
        [[ $(redis-cli -h "$TASKFLOW_REDIS_HOST" -p "$TASKFLOW_REDIS_PORT" ping 2>/dev/null) == PONG ]]
    else
        _tcp_open "$TASKFLOW_REDIS_HOST" "$TASKFLOW_REDIS_PORT"
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

ensure_postgres() {
    postgres_up && return 0
    echo "services: PostgreSQL is not answering on $TASKFLOW_PG_HOST:$TASKFLOW_PG_PORT; starting it"
    local started=0 conf version
    if command -v pg_ctlcluster >/dev/null 2>&1; then
        # Debian-style clusters: /etc/postgresql/<version>/main
        for conf in /etc/postgresql/*/main; do
            [[ -d $conf ]] || continue
            version=${conf%/main}
            version=${version##*/}
            if pg_ctlcluster --skip-systemctl-redirect "$version" main start; then
                started=1
            fi
        done
    fi
    if (( ! started )); then
        echo "services: cannot start PostgreSQL here; start it yourself (trust auth, user postgres, database test)" >&2
        return 1
    fi
    _wait_for PostgreSQL postgres_up
}

ensure_redis() {
    redis_up && return 0
    echo "services: Redis is not answering on $TASKFLOW_REDIS_HOST:$TASKFLOW_REDIS_PORT; starting it"
    if ! command -v redis-server >/dev/null 2>&1; then
        echo "services: redis-server is not installed; start Redis yourself" >&2
        return 1
    fi
    redis-server --daemonize yes --bind "$TASKFLOW_REDIS_HOST" --port "$TASKFLOW_REDIS_PORT" \
        --save "" --appendonly no >/dev/null || return 1
    _wait_for Redis redis_up
}

ensure_services() {
    local rc=0
    ensure_postgres || rc=1
    ensure_redis || rc=1
    return "$rc"
}

if [[ ${BASH_SOURCE[0]} == "$0" ]]; then
    set -uo pipefail
    ensure_services
fi
