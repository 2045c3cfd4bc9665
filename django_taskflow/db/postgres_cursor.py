"""PostgreSQL: the cursor of the hot statements (enqueue, claim, record).

Parameters travel apart from the SQL text (the protocol's server-side
binding). Django's psycopg cursors bind on the client: they quote each
value into the statement's text in Python, which cost a one-by-one
enqueue more CPU than everything else it did but the write itself, and a
claim or a record, whose batches travel as JSON texts, the escaping of
those texts. The server then parsed the values back out.

Bound on the server, a statement can also be prepared: psycopg prepares a
statement run ``prepare_threshold`` times on a connection, and plans it
once rather than at every run (planning took about a quarter of the
server's CPU in a drain). Django sets no threshold unless the
``DATABASES`` OPTIONS give one, so nothing is prepared by default, and a
connection pooler that cannot keep prepared statements (PgBouncer in
transaction mode before 1.21) keeps working.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django_taskflow.db import is_watched


@contextmanager
def server_bound_cursor(connection: Any) -> Iterator[Any]:
    """A cursor on ``connection`` (a Django connection) that binds on the server.

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
        wrapped = (
            connection.make_debug_cursor(raw)
            if connection.queries_logged
            else connection.make_cursor(raw)
        )
        with wrapped:
            yield wrapped
        return
    with connection.wrap_database_errors, raw:
        yield raw
