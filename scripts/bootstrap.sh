#!/usr/bin/env bash
# Create .venv (Python >= 3.12) and install django_taskflow, editable, with
# every extra ([all], which the demo uses) and the dev tools ([dev]). Re-running is cheap: the install is skipped while pyproject.toml is
# unchanged (a stamp file in .venv records its hash).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD
VENV="$ROOT/.venv"
export PIP_DISABLE_PIP_VERSION_CHECK=1

venv_ok() {
    [[ -x "$VENV/bin/python" ]] \
        && "$VENV/bin/python" -c 'import sys; sys.exit(sys.version_info < (3, 12))' >/dev/null 2>&1 \
        && "$VENV/bin/python" -m pip --version >/dev/null 2>&1
}

if ! venv_ok; then
    PY=$(bash "$ROOT/scripts/find-python.sh")
    if [[ -e $VENV ]]; then
        echo "bootstrap: .venv is broken or older than Python 3.12; recreating it"
        rm -rf "$VENV"
    fi
    echo "bootstrap: creating .venv with $("$PY" -c 'import platform; print("Python", platform.python_version())') ($PY)"
    if ! "$PY" -m venv "$VENV"; then
        rm -rf "$VENV"
        echo "bootstrap: could not create .venv with $PY (on Debian/Ubuntu, install the matching pythonX.Y-venv package)" >&2
        exit 1
    fi
fi

hash=$("$VENV/bin/python" -c 'import hashlib, sys; print(hashlib.sha256(open(sys.argv[1], "rb").read()).hexdigest())' "$ROOT/pyproject.toml")
stamp="$VENV/.installed-$hash"

if [[ ! -f $stamp ]]; then
    echo "bootstrap: installing django_taskflow and dev dependencies into .venv"
    "$VENV/bin/python" -m pip install --quiet --upgrade pip
    # The distribution was called django-taskflow before 0.1.0 was released;
    # that name belongs to an unrelated project on PyPI. Drop the old editable
    # install so that only one distribution provides django_taskflow.
    if "$VENV/bin/python" -m pip show --quiet django-taskflow >/dev/null 2>&1; then
        "$VENV/bin/python" -m pip uninstall --quiet --yes django-taskflow
    fi
    "$VENV/bin/python" -m pip install --quiet -e ".[all,dev]"
    rm -f "$VENV"/.installed-*
    touch "$stamp"
fi
