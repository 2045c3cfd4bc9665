"""The statements that let the database decide deduplication, on either database.

Both databases have ``INSERT … ON CONFLICT … RETURNING``, so the SQL is
one; only PostgreSQL's placeholders carry casts. ``placeholder`` turns a
column's name into its parameter's placeholder (the dialect's).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from django_taskflow.db import INSERT_COLUMNS


def plain_placeholder(column: str) -> str:
    return "%s"


def hold_dedup_key(
    cursor: Any,
    *,
    table: str,
    key: str,
    task_id: Any,
    expires_at: Any,
    take_over_before: Any,
    placeholder: Callable[[str], str] = plain_placeholder,
) -> bool:
    """Take ``key`` for ``task_id`` unless another task holds it; True when taken.

    One statement: the key's row is inserted, or taken over when it
    expired before ``take_over_before``. On PostgreSQL, when another
    transaction holds the row, this waits for it to end, and a row it does
    not take stays locked until the caller's transaction ends (``ON
    CONFLICT DO UPDATE`` locks the row before it checks the ``WHERE``), so
    concurrent enqueues of one key take turns. SQLite has one writer at a
    time, so no other enqueue runs between this statement and the caller's
    commit.
    """
    values = ", ".join(placeholder(column) for column in ("key", "task_id", "expires_at"))
    cursor.execute(
        f"""
        INSERT INTO {table} (key, task_id, expires_at)
        VALUES ({values})
        ON CONFLICT (key) DO UPDATE
        SET task_id = excluded.task_id, expires_at = excluded.expires_at
        WHERE {table}.expires_at <= {placeholder("expires_at")}
        RETURNING task_id
        """,
        [key, task_id, expires_at, take_over_before],
    )
    return cursor.fetchone() is not None


def insert_unique_task(
    cursor: Any,
    *,
    table: str,
    row: Sequence[Any],
    unique_key: str,
    columns: Sequence[str] = INSERT_COLUMNS,
    placeholder: Callable[[str], str] = plain_placeholder,
) -> bool:
    """Insert one task row with ``unique_key`` unless a queued or running task has it.

    True when inserted. The conflict target repeats the condition of the
    partial unique index ``taskflow_task_unique_active`` (models/task.py),
    which is how the database picks that index.
    """
    values = ", ".join(placeholder(column) for column in (*columns, "unique_key"))
    cursor.execute(
        f"""
        INSERT INTO {table} ({", ".join(columns)}, unique_key)
        VALUES ({values})
        ON CONFLICT (unique_key) WHERE (status IN ('queued', 'running') AND unique_key IS NOT NULL)
        DO NOTHING
        RETURNING id
        """,
        [*row, unique_key],
    )
    return cursor.fetchone() is not None
