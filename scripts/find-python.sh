#!/usr/bin/env bash
# Print the absolute path of a Python interpreter that is 3.12 or newer.
#
# An explicit PYTHON=... wins. Otherwise the newest working interpreter among
# python3.14, python3.13, python3.12 on PATH, the versions installed by pyenv
# (when pyenv is available) and finally python3 / python is chosen.
set -uo pipefail

readonly MIN_CHECK='import sys; sys.exit(sys.version_info < (3, 12))'
readonly DESCRIBE='import sys; print(sys.version_info[0], sys.version_info[1], sys.executable)'

# describe CANDIDATE: print "MAJOR MINOR /abs/path" if CANDIDATE runs and is >= 3.12.
describe() {
    local cand=$1 out
    [[ -n $cand ]] || return 1
    command -v -- "$cand" >/dev/null 2>&1 || return 1
    "$cand" -c "$MIN_CHECK" >/dev/null 2>&1 || return 1
    out=$("$cand" -c "$DESCRIBE" 2>/dev/null) || return 1
    local major minor exe
    read -r major minor exe <<<"$out"
    [[ $major =~ ^[0-9]+$ && $minor =~ ^[0-9]+$ ]] || return 1
    # sys.executable can be empty in unusual embeddings: fall back to PATH lookup.
    if [[ -z $exe || ! -x $exe ]]; then
        exe=$(command -v -- "$cand") || return 1
        [[ $exe == /* ]] || exe="$PWD/$exe"
    fi
    printf '%s %s %s\n' "$major" "$minor" "$exe"
}

if [[ -n ${PYTHON:-} ]]; then
    if line=$(describe "$PYTHON"); then
        read -r _ _ exe <<<"$line"
        printf '%s\n' "$exe"
        exit 0
    fi
    echo "PYTHON=$PYTHON is not a working Python 3.12 or newer." >&2
    echo "django_taskflow needs Python 3.12 or newer; install python3.12 or set PYTHON=/path/to/python3.12" >&2
    exit 1
fi

candidates=(python3.14 python3.13 python3.12)

# pyenv shims only work for the selected version, so ask pyenv for the real
# interpreters of every installed CPython >= 3.12, newest first.
if command -v pyenv >/dev/null 2>&1; then
    if pyenv_root=$(pyenv root 2>/dev/null) && [[ -n $pyenv_root ]]; then
        while IFS= read -r v; do
            candidates+=("$pyenv_root/versions/$v/bin/python3")
        done < <(pyenv versions --bare 2>/dev/null \
            | grep -E '^3\.(1[2-9]|[2-9][0-9])(\.[0-9]+)?[a-z0-9]*$' \
            | sort -t. -k1,1nr -k2,2nr -k3,3nr)
    fi
fi

candidates+=(python3 python)

best_major=0 best_minor=0 best_exe=""
for cand in "${candidates[@]}"; do
    line=$(describe "$cand") || continue
    read -r major minor exe <<<"$line"
    if (( major > best_major || (major == best_major && minor > best_minor) )); then
        best_major=$major best_minor=$minor best_exe=$exe
    fi
done

if [[ -z $best_exe ]]; then
    echo "django_taskflow needs Python 3.12 or newer; install python3.12 or set PYTHON=/path/to/python3.12" >&2
    exit 1
fi
printf '%s\n' "$best_exe"
