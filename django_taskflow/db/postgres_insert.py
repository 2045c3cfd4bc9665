"""PostgreSQL: how enqueue writes task rows (``db.postgres`` names these).

A few rows go in one ``INSERT``, many in one ``COPY``. Parameters travel
apart from the SQL text (the protocol's server-side binding): Django's
psycopg cursors bind on the client, quoting each of a row's twenty-odd
values into the statement's text in Python, which cost a one-by-one
enqueue more CPU than everything else it does but the write itself, and
the server then had to parse the values back. No statement is prepared
unless the ``DATABASES`` OPTIONS ask for it with ``prepare_threshold``, so
connection poolers keep working.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from contextlib import nullcontext
from typing import Any

from django.db.backends.utils import CursorWrapper

from django_taskflow.db import INSERT_COLUMNS, is_watched

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
    """Insert task rows on ``connection`` (a Django connection), binding on the server.

    While someone watches its statements (an execute wrapper, query
    logging: see ``db.is_watched``), the cursor is wrapped as Django wraps
    its own; otherwise Django's wrapper is skipped, but not its errors.
    """
    connection.close_if_health_check_failed()
    connection.ensure_connection()
    connection.validate_no_broken_transaction()
    with connection.wrap_database_errors:
        import psycopg  # here: migrations load this module on SQLite too

        raw = psycopg.Cursor(connection.connection)
    if is_watched(connection):
        cursor = (
            connection.make_debug_cursor(raw)
            if connection.queries_logged
            else connection.make_cursor(raw)
        )
        with cursor:
            insert_tasks(cursor, table=table, rows=rows, columns=columns)
        return
    with connection.wrap_database_errors, raw:
        insert_tasks(raw, table=table, rows=rows, columns=columns)


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
