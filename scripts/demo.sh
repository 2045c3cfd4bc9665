#!/usr/bin/env bash
# The demo: migrate, create an admin login, enqueue example tasks, then run a
# worker in the background and the development server until Ctrl-C, SIGTERM
# or SIGHUP (the terminal closed), each of which stops both.
#
# TASKFLOW_DEMO_PORT (default 8000) chooses the server's port and
# TASKFLOW_VAR_DIR (default var/) the folder of the SQLite database.
# TASKFLOW_DEMO_NO_BOOTSTRAP=1 uses the python on PATH instead of .venv.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD
PORT=${TASKFLOW_DEMO_PORT:-8000}

if [[ ${TASKFLOW_DEMO_NO_BOOTSTRAP:-} != 1 ]]; then
    bash scripts/bootstrap.sh
    export VIRTUAL_ENV="$ROOT/.venv"
    export PATH="$VIRTUAL_ENV/bin:$PATH"
fi

python manage.py migrate --noinput
python manage.py demo_setup --admin-url "http://127.0.0.1:$PORT/admin/" \
    --dashboard-url "http://127.0.0.1:$PORT/taskflow/"

WORKER_PID=""
SERVER_PID=""

# Messages may find the terminal gone (after SIGHUP): never fail on them.
say() {
    echo "demo: $*" 2>/dev/null || true
}

# stop NAME PID SECONDS: SIGTERM, wait up to SECONDS, then SIGKILL.
stop() {
    local name=$1 pid=$2 seconds=$3 i
    [[ -n $pid ]] || return 0
    if kill -0 "$pid" 2>/dev/null; then
        say "stopping the $name (pid $pid)"
        kill -TERM "$pid" 2>/dev/null || true
        for ((i = 0; i < seconds * 10; i++)); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        if kill -0 "$pid" 2>/dev/null; then
            say "the $name did not stop within ${seconds}s; killing it"
            kill -KILL "$pid" 2>/dev/null || true
        fi
    fi
    wait "$pid" 2>/dev/null || true
}

cleanup() {
    set +e  # stop everything, whatever fails on the way
    trap '' INT TERM HUP  # a second signal must not cut the clean-up short
    local server=$SERVER_PID worker=$WORKER_PID
    SERVER_PID="" WORKER_PID=""
    stop "web server" "$server" 5
    # The worker finishes the tasks it is running before it exits.
    stop worker "$worker" 30
}
trap cleanup EXIT
trap 'cleanup; exit 130' INT
trap 'cleanup; exit 143' TERM
trap 'cleanup; exit 129' HUP

# In its own session, so that Ctrl-C reaches it once, through cleanup(),
# rather than twice (a second signal means "stop at once"). Being outside the
# terminal's session, nothing but cleanup() stops it: hence the traps above.
own_session=()
command -v setsid >/dev/null 2>&1 && own_session=(setsid)
"${own_session[@]}" python manage.py taskworker --concurrency 2 &
WORKER_PID=$!
say "worker started (pid $WORKER_PID)"

# Started in the background and waited for, so that the traps above run as
# soon as a signal arrives; its output still goes to this terminal. With
# daphne installed (the [all] extra), runserver serves the ASGI application:
# pages, static files and the live progress websocket at /ws/taskflow/.
python manage.py runserver "127.0.0.1:$PORT" &
SERVER_PID=$!
say "open http://127.0.0.1:$PORT/taskflow/ (the live dashboard) or http://127.0.0.1:$PORT/admin/ and log in with the password above; Ctrl-C stops the demo"
wait "$SERVER_PID"
