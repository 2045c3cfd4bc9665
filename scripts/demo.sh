#!/usr/bin/env bash
# The demo: migrate, create an admin login, enqueue example tasks, then run a
# worker in the background and the development server until Ctrl-C (or
# SIGTERM), which stops both.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD

bash scripts/bootstrap.sh
export VIRTUAL_ENV="$ROOT/.venv"
export PATH="$VIRTUAL_ENV/bin:$PATH"

python manage.py migrate --noinput
python manage.py demo_setup

WORKER_PID=""
SERVER_PID=""

# stop NAME PID SECONDS: SIGTERM, wait up to SECONDS, then SIGKILL.
stop() {
    local name=$1 pid=$2 seconds=$3 i
    [[ -n $pid ]] || return 0
    if kill -0 "$pid" 2>/dev/null; then
        echo "demo: stopping the $name (pid $pid)"
        kill -TERM "$pid" 2>/dev/null || true
        for ((i = 0; i < seconds * 10; i++)); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        if kill -0 "$pid" 2>/dev/null; then
            echo "demo: the $name did not stop within ${seconds}s; killing it" >&2
            kill -KILL "$pid" 2>/dev/null || true
        fi
    fi
    wait "$pid" 2>/dev/null || true
}

cleanup() {
    local server=$SERVER_PID worker=$WORKER_PID
    SERVER_PID="" WORKER_PID=""
    stop "web server" "$server" 5
    # The worker finishes the tasks it is running before it exits.
    stop worker "$worker" 30
}
trap cleanup EXIT
trap 'cleanup; exit 130' INT
trap 'cleanup; exit 143' TERM

# In its own session, so that Ctrl-C reaches it once, through cleanup(),
# rather than twice (a second signal means "stop at once").
own_session=()
command -v setsid >/dev/null 2>&1 && own_session=(setsid)
"${own_session[@]}" python manage.py taskworker --concurrency 2 &
WORKER_PID=$!
echo "demo: worker started (pid $WORKER_PID)"

# Started in the background and waited for, so that the traps above run as
# soon as a signal arrives; its output still goes to this terminal.
python manage.py runserver 127.0.0.1:8000 &
SERVER_PID=$!
echo "demo: open http://127.0.0.1:8000/admin/ and log in with the password above; Ctrl-C stops the demo"
wait "$SERVER_PID"
