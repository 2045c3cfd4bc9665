#!/usr/bin/env bash
# The whole test suite: lint, migrations check, then pytest on SQLite and on
# PostgreSQL. Extra arguments go to pytest, e.g. scripts/test.sh -k retry -x
set -uo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.." || exit 1
ROOT=$PWD
PG_URL=${TASKFLOW_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/test}

bash scripts/bootstrap.sh || { echo "test: bootstrap failed" >&2; exit 1; }
export VIRTUAL_ENV="$ROOT/.venv"
export PATH="$VIRTUAL_ENV/bin:$PATH"
unset DATABASE_URL

TMP=$(mktemp -d "${TMPDIR:-/tmp}/taskflow-test.XXXXXX")
trap 'rm -rf "$TMP"' EXIT

failed=()

# shellcheck source=scripts/services.sh
source scripts/services.sh
if ! ensure_services; then
    failed+=("services")
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
run_pytest SQLite TASKFLOW_VAR_DIR="$TMP/sqlite" -- "$@"
run_pytest PostgreSQL TASKFLOW_VAR_DIR="$TMP/postgres" DATABASE_URL="$PG_URL" -- "$@"

echo
if ((${#failed[@]})); then
    echo "FAILED:" >&2
    printf '  - %s\n' "${failed[@]}" >&2
    exit 1
fi
echo "All checks passed: ruff, mypy, migrations, tests on SQLite and PostgreSQL."
