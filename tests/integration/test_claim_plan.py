"""The claim's query plan: it walks the claim index, never sorts the queue."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection

from tests import tasks
from tests.conftest import claim_for

pytestmark = pytest.mark.django_db


@pytest.mark.skipif(connection.vendor != "sqlite", reason="the plan of SQLite's claim")
def test_sqlite_claim_walks_the_claim_index_on_a_never_analysed_database() -> None:
    # Without statistics the planner once sorted every queued row, and the
    # UPDATE then walked them all again, holding the write lock all the while.
    tasks.add.enqueue_many([(n, n) for n in range(200)])
    statements: list[tuple[str, Any]] = []

    def capture(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        statements.append((sql, params))
        return execute(sql, params, many, context)

    with connection.execute_wrapper(capture):
        claim_for("A", limit=5)
    [(sql, params)] = [(sql, params) for sql, params in statements if "RETURNING" in sql]
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN QUERY PLAN {sql}", params)
        plan = " | ".join(str(row[-1]) for row in cursor.fetchall())
    assert "taskflow_task_claim_idx" in plan
    assert "TEMP B-TREE" not in plan
    # The UPDATE finds the chosen rows by primary key, not by walking every
    # queued row through an index on status.
    assert "(id=?)" in plan
    assert "status_idx" not in plan
