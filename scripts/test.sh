#!/usr/bin/env bash
# The whole test suite: lint, type check, migrations check, then pytest on
# SQLite and on PostgreSQL. Extra arguments go to pytest, e.g.
#   scripts/test.sh -k retry -x
#   scripts/test.sh -m "not install"    # leave out the wheel test while working
#
# Needs Python >= 3.12 and PostgreSQL (TASKFLOW_TEST_POSTGRES_URL, default
# postgres://postgres@127.0.0.1:5432/test; a local server that is down is
# started, and stopped again at the end).
set -uo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.." || exit 1
ROOT=$PWD
PG_URL=${TASKFLOW_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/test}

bash scripts/bootstrap.sh || { echo "test: bootstrap failed" >&2; exit 1; }
export VIRTUAL_ENV="$ROOT/.venv"
export PATH="$VIRTUAL_ENV/bin:$PATH"
unset DATABASE_URL

# The PostgreSQL server to probe (and start when local), from the URL.
if [[ $PG_URL =~ ^postgres(ql)?://([^@/]*@)?([^:/]+)(:([0-9]+))?/ ]]; then
    export TASKFLOW_PG_HOST=${BASH_REMATCH[3]} TASKFLOW_PG_PORT=${BASH_REMATCH[5]:-5432}
fi

# shellcheck source=scripts/services.sh
source scripts/services.sh

TMP=$(mktemp -d "${TMPDIR:-/tmp}/taskflow-test.XXXXXX")
postgres_run=
# shellcheck disable=SC2317  # run by the trap
stop_postgres_run() {
    if [[ -n $postgres_run ]] && kill -0 "$postgres_run" 2>/dev/null; then
        pkill -TERM -P "$postgres_run" 2>/dev/null
        kill -TERM "$postgres_run" 2>/dev/null
    fi
}
trap 'stop_postgres_run; stop_started_services; rm -rf "$TMP"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

failed=()

ensure_redis || true  # optional: the Redis tests skip without it
ensure_chromium || true  # optional: the browser tests skip without it

postgres_ok=1
if ! ensure_postgres; then
    postgres_ok=0
    failed+=("PostgreSQL missing: the tests on PostgreSQL did not run (see 'services: MISSING' above)")
fi

echo "== ruff check =="
ruff check . || failed+=("ruff check")
ruff format --check . || failed+=("ruff format --check")

echo "== mypy --strict =="
mypy django_taskflow || failed+=("mypy")

echo "== migrations check =="
mkdir "$TMP/migrations"
TASKFLOW_VAR_DIR="$TMP/migrations" DATABASE_URL="sqlite:///$TMP/migrations/db.sqlite3" \
    python manage.py makemigrations --check --dry-run \
    || failed+=("makemigrations --check (missing or outdated migrations)")

# run_pytest LABEL [env assignments...] -- [pytest args...]
run_pytest() {
    local label=$1 rc
    shift
    local envs=()
    while [[ $# -gt 0 && $1 != -- ]]; do envs+=("$1"); shift; done
    shift
    echo
    echo "== tests on $label =="
    env "${envs[@]}" python -m pytest "$@"
    rc=$?
    case $rc in
        0) ;;
        5)
            echo "test: pytest collected no tests on $label (is tests/ empty, or do the arguments select nothing?)" >&2
            failed+=("pytest on $label: no tests collected")
            ;;
        *) failed+=("pytest on $label (exit $rc)") ;;
    esac
}

mkdir "$TMP/sqlite" "$TMP/postgres"
# The two runs go side by side: most of their time is spent waiting on
# worker processes, so together they take little longer than the longer
# one. The PostgreSQL run's output is kept and shown when it ends.
if ((postgres_ok)); then
    (
        failed=()
        run_pytest PostgreSQL TASKFLOW_VAR_DIR="$TMP/postgres" DATABASE_URL="$PG_URL" -- "$@"
        printf '%s\n' "${failed[@]}" >"$TMP/postgres.failed"
    ) >"$TMP/postgres.log" 2>&1 &
    postgres_run=$!
fi
run_pytest SQLite TASKFLOW_VAR_DIR="$TMP/sqlite" -- "$@"
if ((postgres_ok)); then
    wait "$postgres_run"
    cat "$TMP/postgres.log"
    if [[ -f $TMP/postgres.failed ]]; then
        while IFS= read -r failure; do
            [[ -n $failure ]] && failed+=("$failure")
        done <"$TMP/postgres.failed"
    else
        failed+=("pytest on PostgreSQL did not finish")
    fi
fi

echo
if ((${#failed[@]})); then
    echo "FAILED:" >&2
    printf '  - %s\n' "${failed[@]}" >&2
    exit 1
fi
echo "All checks passed: ruff, mypy, migrations, tests on SQLite and PostgreSQL."
