"""SQLite: how enqueue writes task rows (``db.sqlite`` names these).

One prepared statement, run once per row. When nobody watches the
connection's statements (``db.is_watched``), it runs on the driver's own
connection: Django's cursor wrapper, rewriting the ``%s`` placeholders of
a twenty-column INSERT with a regular expression each time, cost a
one-by-one enqueue about as much as all its other Python work.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

from django_taskflow.db import INSERT_COLUMNS, is_watched


def inserts_in_one_statement(row_count: int) -> bool:
    """Whether :func:`insert_tasks` writes ``row_count`` rows in one statement.

    Only one row: ``executemany`` runs one statement per row, and in
    autocommit each would commit alone.
    """
    return row_count == 1


def write_tasks(
    connection: Any, *, table: str, rows: Sequence[Sequence[Any]], columns: Sequence[str]
) -> None:
    """Insert task rows on ``connection`` (a Django connection)."""
    if is_watched(connection):
        with connection.cursor() as cursor:
            insert_tasks(cursor, table=table, rows=rows, columns=columns)
        return
    connection.close_if_health_check_failed()
    connection.ensure_connection()
    connection.validate_no_broken_transaction()
    sql = _insert_sql(table, tuple(columns), "?")
    with connection.wrap_database_errors:
        if len(rows) == 1:
            connection.connection.execute(sql, rows[0])
        else:
            connection.connection.executemany(sql, rows)


def insert_tasks(
    cursor: Any,
    *,
    table: str,
    rows: Sequence[Sequence[Any]],
    columns: Sequence[str] = INSERT_COLUMNS,
) -> None:
    """Insert task rows with one prepared statement on Django's ``cursor``."""
    sql = _insert_sql(table, tuple(columns), "%s")
    if len(rows) == 1:
        cursor.execute(sql, rows[0])
    else:
        cursor.executemany(sql, rows)


@functools.lru_cache(maxsize=256)
def _insert_sql(table: str, columns: tuple[str, ...], marker: str) -> str:
    placeholders = ", ".join([marker] * len(columns))
    return f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({placeholders})"
