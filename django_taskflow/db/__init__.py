"""Vendor SQL: the claim and completion statements and the wake-up waiter.

Everything else in the package uses the ORM. ``dialect_for`` picks the
module for a database alias.
"""

from __future__ import annotations

from collections.abc import Sequence
from types import ModuleType
from typing import Any

from django.db import connections
from django.db.models import DateTimeField, Expression

# Columns the claim statement returns.
CLAIM_COLUMNS = (
    "id",
    "task_path",
    "backend",
    "queue_name",
    "priority",
    "args",
    "kwargs",
    "attempts",
    "max_attempts",
    "retry_policy",
    "timeout_soft",
    "timeout_hard",
    "key",
    "tags",
    "run_after",
    "enqueued_at",
    "started_at",
    "lost_attempts",
    "on_lost",
    "flow_id",
    "encoding",
)

# Columns of one completion, in the order the completion statements bind them.
COMPLETION_COLUMNS = (
    "id",
    "status",
    "result",
    "run_after",
    "started_at",
    "finished_at",
    "final_at",
    "number",
    "outcome",
    "error_class",
    "error_message",
    "traceback",
    "error_value",
)

EVENT_COLUMNS = ("task_id", "kind", "attempt", "created_at", "data")


# Columns enqueue writes; every other column takes its default. Those that
# differ between the rows of one call come first, then those every row of a
# definition shares (``enqueue_plan.Plan.constants``). A limited task's gate
# and a flow's step add theirs in between.
VARYING_COLUMNS = ("id", "args", "kwargs", "run_after", "enqueued_at")
CONSTANT_COLUMNS = (
    "task_path",
    "backend",
    "queue_name",
    "priority",
    "status",
    "key",
    "tags",
    "attempts",
    "max_attempts",
    "retry_policy",
    "timeout_soft",
    "timeout_hard",
    "progress_detail",
    "on_lost",
    "requires",
)
INSERT_COLUMNS = VARYING_COLUMNS + CONSTANT_COLUMNS


# What a cancel returns of each row it changed (``update_returning``).
CANCEL_COLUMNS = ("id", "task_path", "key", "tags", "attempts", "worker_id")


def update_returning(
    cursor: Any,
    *,
    table: str,
    assignments: str,
    params: Sequence[Any],
    ids: Sequence[Any],
    status: str,
    extra_guard: str = "",
) -> list[tuple[Any, ...]]:
    """``UPDATE`` the rows of ``ids`` still in ``status``; return their ``CANCEL_COLUMNS``.

    One statement guarded by the status it expects, so a claim or a
    completion running at the same time either comes first (the row no
    longer matches) or waits. Both PostgreSQL and SQLite (3.35+) support
    ``RETURNING``; ``assignments`` may use ``LEASE_UNTIL_SQL`` through
    :func:`now_sql`.
    """
    if not ids:
        return []
    cursor.execute(
        f"""
        UPDATE {table} SET {assignments}
        WHERE id IN ({", ".join(["%s"] * len(ids))}) AND status = %s {extra_guard}
        RETURNING {", ".join(CANCEL_COLUMNS)}
        """,
        [*params, *ids, status],
    )
    return cursor.fetchall()  # type: ignore[no-any-return]


def now_sql(vendor: str) -> tuple[str, Any]:
    """The database's clock now, as SQL and its parameter."""
    dialect = _dialect(vendor)
    return dialect.LEASE_UNTIL_SQL, dialect.lease_offset(0)


def is_watched(connection: Any) -> bool:
    """Whether someone watches the statements run on ``connection`` (a Django connection).

    An execute wrapper is installed (``connection.execute_wrapper()``:
    tracing, query counting) or queries are logged (``DEBUG``,
    ``CaptureQueriesContext``). A hot path that skips Django's cursor
    wrapper for speed takes it again while this is true.
    """
    return bool(connection.execute_wrappers) or bool(connection.queries_logged)


def dialect_for(database: str) -> ModuleType:
    """Return ``db.postgres`` or ``db.sqlite`` for the database alias."""
    return _dialect(connections[database].vendor)


def _dialect(vendor: str) -> ModuleType:
    if vendor == "postgresql":
        from django_taskflow.db import postgres

        return postgres
    from django_taskflow.db import sqlite

    return sqlite


class LeaseUntil(Expression):
    """When a lease taken now for ``seconds`` ends, by the database's clock.

    Lease times (claim, renewal, extension, expiry) never come from a
    worker's clock, so workers on hosts whose clocks disagree never take
    each other's leases for expired.
    """

    output_field = DateTimeField()

    def __init__(self, seconds: float) -> None:
        super().__init__()
        self.seconds = seconds

    def as_sql(self, compiler: Any, connection: Any) -> Any:
        dialect = _dialect(connection.vendor)
        return dialect.LEASE_UNTIL_SQL, (dialect.lease_offset(self.seconds),)


def delete_tasks(
    cursor: Any,
    *,
    tables: dict[str, str],
    guard: str,
    params: Sequence[Any],
    order_by: str,
    limit: int,
) -> int:
    """Delete up to ``limit`` tasks matching ``guard``, in ``order_by`` order; return how many.

    One chunk of pruning (or of purging a queue), run inside the caller's
    transaction. The inner SELECT walks an index in ``order_by`` order and
    stops after ``limit`` rows (for pruning, ``taskflow_task_finished_idx``
    on (status, finished_at)); the outer DELETE repeats the guard, so a
    task that changed meanwhile (claimed, retried) stays. Its attempts and
    events go in the same transaction, by their task indexes, never loaded
    into Python; schedule runs that fired it keep their row with no task.
    Foreign keys are deferred (Django creates them ``DEFERRABLE INITIALLY
    DEFERRED``), so the order inside is free. Plain SQL that PostgreSQL and
    SQLite (3.35+) both run.
    """
    task = tables["task"]
    cursor.execute(
        f"""
        DELETE FROM {task}
        WHERE id IN (SELECT id FROM {task} WHERE {guard} ORDER BY {order_by} LIMIT %s)
        AND {guard}
        RETURNING id
        """,
        [*params, limit, *params],
    )
    ids = [row[0] for row in cursor.fetchall()]
    if not ids:
        return 0
    marks = ", ".join(["%s"] * len(ids))
    for table in (tables["attempt"], tables["event"]):
        cursor.execute(f"DELETE FROM {table} WHERE task_id IN ({marks})", ids)
    cursor.execute(
        f"UPDATE {tables['schedule_run']} SET task_id = NULL WHERE task_id IN ({marks})", ids
    )
    return len(ids)


def delete_flows(cursor: Any, *, tables: dict[str, str], params: Sequence[Any], limit: int) -> int:
    """Delete up to ``limit`` finished flows with no task left, oldest first; return how many.

    ``params``: the flows' status, the time they finished before, their
    backend. The inner SELECT walks ``taskflow_flow_finished_idx`` and
    looks each flow up in the task table's flow index; the outer DELETE
    repeats the status and the "no task" test, so a flow resumed meanwhile
    (running again, with new steps) stays. Plain SQL that PostgreSQL and
    SQLite both run.
    """
    flow, task = tables["flow"], tables["task"]
    status, before, backend = params
    no_task = f"NOT EXISTS (SELECT 1 FROM {task} WHERE {task}.flow_id = {flow}.id)"
    cursor.execute(
        f"""
        DELETE FROM {flow}
        WHERE id IN (
            SELECT id FROM {flow}
            WHERE status = %s AND finished_at < %s AND backend = %s AND {no_task}
            ORDER BY finished_at LIMIT %s
        )
        AND status = %s AND {no_task}
        """,
        [status, before, backend, limit, status],
    )
    deleted: int = cursor.rowcount
    return max(deleted, 0)


# A counter row's key (models.TaskCounter), then what is added to it.
COUNTER_KEY = ("backend", "task_path", "outcome", "status", "bucket", "shard")


def add_counts(cursor: Any, *, table: str, rows: Sequence[Sequence[Any]]) -> None:
    """Add ``rows`` of (``COUNTER_KEY``..., attempts, seconds) to the counter table.

    One upsert, run inside the caller's transaction. Rows of one key are
    merged first (an upsert may not touch a row twice), and written in key
    order, so that two writers adding to the same rows lock them in the
    same order and never deadlock. Plain SQL that PostgreSQL and SQLite
    (3.24+) both run.
    """
    merged: dict[tuple[Any, ...], list[Any]] = {}
    for *row_key, attempts, seconds in rows:
        total = merged.setdefault(tuple(row_key), [0, 0.0])
        total[0] += attempts
        total[1] += seconds
    if not merged:
        return
    key = ", ".join(COUNTER_KEY)
    cursor.execute(
        f"""
        INSERT INTO {table} ({key}, attempts, seconds)
        VALUES {", ".join(["(%s, %s, %s, %s, %s, %s, %s, %s)"] * len(merged))}
        ON CONFLICT ({key}) DO UPDATE
        SET attempts = {table}.attempts + excluded.attempts,
            seconds = {table}.seconds + excluded.seconds
        """,
        [value for row_key in sorted(merged) for value in (*row_key, *merged[row_key])],
    )
