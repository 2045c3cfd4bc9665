"""SQLite: one writer at a time, so a single UPDATE … RETURNING claims safely;
workers watch the database files for commits."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

from django_taskflow.db import (
    CLAIM_COLUMNS,
    COMPLETION_COLUMNS,
    EVENT_COLUMNS,
    add_counts,
    dedup_sql,
)

# How enqueue writes task rows lives in its own module; the dialect names it.
from django_taskflow.db.sqlite_insert import insert_tasks as insert_tasks
from django_taskflow.db.sqlite_insert import inserts_in_one_statement as inserts_in_one_statement
from django_taskflow.db.sqlite_insert import write_tasks as write_tasks
from django_taskflow.db.sqlite_wait import Waiter as Waiter
from django_taskflow.db.sqlite_wait import event_waiter as event_waiter

# One writer at a time: a connection inside a transaction may hold the
# database's write lock, and every other connection's write waits for it.
ONE_WRITER = True

# Tasks per pruning chunk: small, because a chunk holds the single write
# lock while it deletes (with its attempts, events and every index entry).
PRUNE_CHUNK_SIZE = 100
# Pruning's pause after each chunk, as a share of the chunk's time
# (retention.py): SQLite has one writer at a time, so while a chunk deletes,
# every completing worker waits, and its busy handler sleeps in growing
# steps, so it resumes late: a chunk costs the workers about one and a half
# times its length. Pausing nine times as long as the chunk took keeps the
# drain beside a prune within about 20 % of the drain without (benchmarks).
PRUNE_PAUSE_RATIO = 9.0

# The database clock plus a number of seconds, in the text format Django
# stores datetimes in ("YYYY-MM-DD HH:MM:SS.fff", UTC): when a lease taken
# now ends. On SQLite the database's clock is this host's.
LEASE_UNTIL_SQL = "strftime('%%Y-%%m-%%d %%H:%%M:%%f', 'now', %s)"


def bound_cursor(connection: Any) -> Any:
    """The cursor of the hot statements: Django's (the driver binds each value)."""
    return connection.cursor()


def lease_offset(seconds: float) -> str:
    """The parameter of ``LEASE_UNTIL_SQL``: a date modifier."""
    return f"{float(seconds):+f} seconds"


hold_dedup_key = dedup_sql.hold_dedup_key
insert_unique_task = dedup_sql.insert_unique_task


def insert_events(cursor: Any, *, table: str, rows: Sequence[Sequence[Any]]) -> None:
    """Insert Event rows with one prepared statement."""
    if rows:
        placeholders = ", ".join(["%s"] * len(EVENT_COLUMNS))
        cursor.executemany(
            f"INSERT INTO {table} ({', '.join(EVENT_COLUMNS)}) VALUES ({placeholders})", rows
        )


# Writers are serialised: a transaction holds the write lock from its first
# write to its commit, and ids are drawn under that lock, so transactions
# commit in the order of the ids they drew.
COMMITS_IN_ID_ORDER = True


def assign_transaction_id(cursor: Any) -> None:
    """Nothing to do: SQLite commits events in id order (``COMMITS_IN_ID_ORDER``)."""


# The task table's partial index on queued rows, in claim order.
CLAIM_INDEX = "taskflow_task_claim_idx"


def claim(
    cursor: Any,
    *,
    table: str,
    worker_id: str,
    backend: str,
    queues: Sequence[str],
    limit: int,
    lease_seconds: float,
    now: Any,
    excluded: Sequence[str] = (),
    capabilities: Sequence[str] = (),
) -> list[tuple[Any, ...]]:
    """Mark up to ``limit`` ready rows running in one statement (one write lock).

    ``queues`` empty means every queue but ``excluded``. Only rows whose
    ``requires`` is NULL, or within ``capabilities``, are taken.

    ``INDEXED BY`` the claim index (partial on ``status = 'queued'``, which
    this WHERE repeats): on a database never analysed, the planner would
    otherwise sort every queued row while holding the write lock, about
    10 ms per claim with 20,000 queued against 0.03 ms through the index.

    The outer UPDATE finds its rows by primary key alone. It needs no
    status filter (the statement holds the write lock, so the rows the
    subquery chose are still queued), and with one the planner walked
    every queued row through the status index: 25 ms per claim at 18,000
    queued.

    Rows with a gate (a concurrency cap or a rate limit) are claimed by
    ``db.gates`` instead; the claim index holds only the others.
    """
    if queues:
        queue_filter = f"AND queue_name IN ({', '.join(['%s'] * len(queues))})"
    elif excluded:
        queue_filter = f"AND queue_name NOT IN ({', '.join(['%s'] * len(excluded))})"
    else:
        queue_filter = ""
    requires_filter, capability_params = capability_filter(capabilities)
    cursor.execute(
        _claim_sql(table, f"{queue_filter} {requires_filter}", "%s"),
        [
            worker_id,
            lease_offset(lease_seconds),
            now,
            backend,
            *(queues or excluded),
            *capability_params,
            limit,
        ],
    )
    return cursor.fetchall()  # type: ignore[no-any-return]


def claim_limited(
    cursor: Any,
    *,
    table: str,
    worker_id: str,
    backend: str,
    queue: str,
    queue_limit: int,
    limit: int,
    lease_seconds: float,
    now: Any,
    capabilities: Sequence[str] = (),
) -> list[tuple[Any, ...]]:
    """Claim as :func:`claim` from one queue, keeping its running tasks within ``queue_limit``.

    One statement: it counts the queue's running tasks (prefetched ones
    included) and claims at most the rest under the single write lock, so
    no other worker claims in between.
    """
    requires_filter, capability_params = capability_filter(capabilities)
    room = (
        f"min(%s, max(0, %s - (SELECT count(*) FROM {table} "
        "WHERE status = 'running' AND backend = %s AND queue_name = %s)))"
    )
    cursor.execute(
        _claim_sql(table, f"AND queue_name = %s {requires_filter}", room),
        [
            worker_id,
            lease_offset(lease_seconds),
            now,
            backend,
            queue,
            *capability_params,
            limit,
            queue_limit,
            backend,
            queue,
        ],
    )
    return cursor.fetchall()  # type: ignore[no-any-return]


def _claim_sql(table: str, filters: str, limit: str) -> str:
    return f"""
        UPDATE {table}
        SET status = 'running', worker_id = %s, lease_expires_at = {LEASE_UNTIL_SQL},
            attempts = attempts + 1
        WHERE id IN (
            SELECT id FROM {table} INDEXED BY {CLAIM_INDEX}
            WHERE status = 'queued' AND gate_key IS NULL AND run_after <= %s AND backend = %s
                {filters}
            ORDER BY priority DESC, run_after, id
            LIMIT {limit}
        )
        RETURNING {", ".join(CLAIM_COLUMNS)}
        """


def capability_filter(capabilities: Sequence[str]) -> tuple[str, list[Any]]:
    """Rows that need nothing, or nothing the worker lacks (``requires`` is a JSON list)."""
    if not capabilities:
        return "AND requires IS NULL", []
    offered = ", ".join(["%s"] * len(capabilities))
    return (
        "AND (requires IS NULL OR NOT EXISTS "
        f"(SELECT 1 FROM json_each(requires) WHERE value NOT IN ({offered})))",
        sorted(capabilities),
    )


def complete(
    cursor: Any,
    *,
    task_table: str,
    attempt_table: str,
    worker_id: str,
    completions: Sequence[Sequence[Any]],
) -> dict[Any, tuple[str, str]]:
    """Write outcomes and their Attempt rows; the caller holds a transaction.

    Returns the ids whose outcome was written, with their backend and task path.
    """
    row = "(" + ", ".join(["%s"] * len(COMPLETION_COLUMNS)) + ")"
    values = ", ".join([row] * len(completions))
    cursor.execute(
        f"""
        WITH v ({", ".join(COMPLETION_COLUMNS)}) AS (VALUES {values})
        UPDATE {task_table}
        SET status = v.status, result = v.result,
            run_after = COALESCE(v.run_after, {task_table}.run_after),
            worker_id = NULL, lease_expires_at = NULL,
            started_at = COALESCE({task_table}.started_at, v.started_at),
            last_attempted_at = v.started_at, finished_at = v.final_at
        FROM v
        WHERE {task_table}.id = v.id AND {task_table}.status = 'running'
          AND {task_table}.worker_id = %s AND {task_table}.attempts = v.number
          -- a cancelled task is never queued again (see cancellation.py)
          AND (v.status <> 'queued' OR {task_table}.cancel_requested_at IS NULL)
        RETURNING {task_table}.id, {task_table}.backend, {task_table}.task_path
        """,
        [*(value for completion in completions for value in completion), worker_id],
    )
    won = {row[0]: (row[1], row[2]) for row in cursor.fetchall()}
    attempts = []
    for completion in completions:
        named = dict(zip(COMPLETION_COLUMNS, completion, strict=True))
        if named["id"] in won:
            attempts.append(
                [named["id"], worker_id, *(named[column] for column in _ATTEMPT_COLUMNS[2:])]
            )
    cursor.executemany(
        f"""INSERT INTO {attempt_table} ({", ".join(_ATTEMPT_COLUMNS)})
        VALUES ({", ".join(["%s"] * len(_ATTEMPT_COLUMNS))})""",
        attempts,
    )
    return won


# Where a completion row holds what the counters are keyed by.
_OUTCOME = COMPLETION_COLUMNS.index("outcome")
_STATUS = COMPLETION_COLUMNS.index("status")

# ``record`` writes several statements: the caller holds a transaction.
RECORD_IS_ONE_STATEMENT = False


def record(
    cursor: Any,
    *,
    task_table: str,
    attempt_table: str,
    event_table: str,
    worker_id: str,
    completions: Sequence[Sequence[Any]],
    events: Sequence[Sequence[Any]],
    counter_table: str | None = None,
    timings: Sequence[tuple[float, float]] = (),
    shard: int = 0,
) -> set[Any]:
    """Write outcomes, their Attempt rows, events and counts; see ``postgres.record``.

    Ids are drawn in the order written: the notes' events, then the outcomes'.
    """
    insert_events(cursor, table=event_table, rows=[row[:-1] for row in events if not row[-1]])
    won = (
        complete(
            cursor,
            task_table=task_table,
            attempt_table=attempt_table,
            worker_id=worker_id,
            completions=completions,
        )
        if completions
        else {}
    )
    insert_events(
        cursor, table=event_table, rows=[row[:-1] for row in events if row[-1] and row[0] in won]
    )
    if counter_table is not None and won:
        add_counts(
            cursor,
            table=counter_table,
            rows=[
                (*won[row[0]], row[_OUTCOME], row[_STATUS], bucket, shard, 1, seconds)
                for row, (bucket, seconds) in zip(completions, timings, strict=True)
                if row[0] in won
            ],
        )
    return set(won)


def cancel_query(connection: Any) -> None:
    """Abort what ``connection`` runs (``sqlite3.Connection.interrupt`` is thread-safe)."""
    connection.interrupt()


# An Attempt row: the task id and worker first, then columns of a completion.
_ATTEMPT_COLUMNS = (
    "task_id",
    "worker_id",
    "number",
    "started_at",
    "finished_at",
    "outcome",
    "error_class",
    "error_message",
    "traceback",
    "error_value",
)


def notify(cursor: Any) -> None:
    """SQLite has no notifications: workers poll."""


def notify_cancel(cursor: Any, requests: Sequence[tuple[str, str]]) -> None:
    """SQLite has no notifications: each slot polls for its cancel requests."""


def notify_service(cursor: Any, name: str) -> None:
    """SQLite has no notifications: service runners poll for their messages."""


def service_waiter(database: str, stop: threading.Event) -> None:
    """None: a service host on SQLite has nothing to listen on; its runners poll."""
    return None


def has_tag_sql(table: str) -> str:
    """A condition on the task row: its tags include the parameter."""
    return f"EXISTS (SELECT 1 FROM json_each({table}.tags) WHERE json_each.value = %s)"


def estimated_rows(cursor: Any, sql: str, params: Sequence[Any]) -> int | None:
    """None: SQLite keeps no row estimates, so a count must be exact."""
    return None
