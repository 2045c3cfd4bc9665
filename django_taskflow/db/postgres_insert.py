"""PostgreSQL: how enqueue writes task rows (``db.postgres`` names these).

A few rows go in one ``INSERT``, many in one ``COPY``, on a cursor that
binds on the server (``postgres_cursor``).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from contextlib import nullcontext
from typing import Any

from django.db.backends.utils import CursorWrapper

from django_taskflow.db import INSERT_COLUMNS
from django_taskflow.db.postgres_cursor import server_bound_cursor

# PostgreSQL types of the columns enqueue writes, and of the dedup key table's.
_INSERT_CASTS = {
    "id": "uuid",
    "task_path": "varchar",
    "backend": "varchar",
    "queue_name": "varchar",
    "priority": "smallint",
    "status": "varchar",
    "args": "jsonb",
    "kwargs": "jsonb",
    "key": "varchar",
    "tags": "jsonb",
    "attempts": "integer",
    "max_attempts": "integer",
    "retry_policy": "jsonb",
    "timeout_soft": "double precision",
    "timeout_hard": "double precision",
    "progress_detail": "jsonb",
    "run_after": "timestamptz",
    "enqueued_at": "timestamptz",
    "on_lost": "varchar",
    "requires": "jsonb",
    "encoding": "varchar",
    # A limited task's gate (limits.GATE_COLUMNS).
    "gate_key": "varchar",
    "concurrency_key": "varchar",
    "concurrency_limit": "integer",
    "concurrency_strategy": "varchar",
    "rate_key": "varchar",
    "rate_limit": "integer",
    "rate_seconds": "double precision",
    "unique_key": "varchar",
    "task_id": "uuid",
    "expires_at": "timestamptz",
    # A flow's step (enqueue_plan.FLOW_COLUMNS).
    "flow_id": "uuid",
    "flow_position": "integer",
}


def placeholder(column: str) -> str:
    """``%s`` with the column's type, so the server never has to guess it."""
    return f"%s::{_INSERT_CASTS[column]}"


def inserts_in_one_statement(row_count: int) -> bool:
    """Whether :func:`insert_tasks` writes ``row_count`` rows in one statement.

    Always: a multi-row ``INSERT`` or one ``COPY``. A statement run in
    autocommit is a transaction of its own, all of it or nothing.
    """
    return True


def write_tasks(
    connection: Any, *, table: str, rows: Sequence[Sequence[Any]], columns: Sequence[str]
) -> None:
    """Insert task rows on ``connection`` (a Django connection), binding on the server."""
    with server_bound_cursor(connection) as cursor:
        insert_tasks(cursor, table=table, rows=rows, columns=columns)


@functools.lru_cache(maxsize=256)
def _insert_sql(table: str, columns: tuple[str, ...], row_count: int) -> str:
    row = "(" + ", ".join(placeholder(column) for column in columns) + ")"
    return f"INSERT INTO {table} ({', '.join(columns)}) VALUES {', '.join([row] * row_count)}"


def insert_tasks(
    cursor: Any,
    *,
    table: str,
    rows: Sequence[Sequence[Any]],
    columns: Sequence[str] = INSERT_COLUMNS,
) -> None:
    """Insert task rows: one INSERT for a few, COPY for many (several times faster).

    ``columns`` name the values of each row (see ``db.INSERT_COLUMNS``).
    ``cursor`` is psycopg's or Django's wrapper of it.
    """
    if len(rows) < 50:
        cursor.execute(
            _insert_sql(table, tuple(columns), len(rows)),
            [value for values in rows for value in values],
        )
        return
    _copy(cursor, table, columns, rows)


def _copy(cursor: Any, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    # COPY runs on psycopg's own cursor. Under Django's wrapper, translate its
    # errors as Django would, so callers see OperationalError for a lost
    # connection (write_tasks does it around a bare cursor).
    if isinstance(cursor, CursorWrapper):
        raw, errors = cursor.cursor, cursor.db.wrap_database_errors
    else:
        raw, errors = cursor, nullcontext()
    with errors, raw.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)
