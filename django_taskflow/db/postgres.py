"""PostgreSQL: claim with ``FOR UPDATE SKIP LOCKED``, complete in one statement,
wake workers with ``LISTEN/NOTIFY``.

This module is the dialect (``db.dialect_for``): the claim, the wake-ups,
deduplication and the migrations' indexes live in modules of their own
(``postgres_claim``, ``postgres_listen``, ``dedup_sql``, ``postgres_indexes``)
and are named here.
"""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from django_taskflow.db import COMPLETION_COLUMNS, COUNTER_KEY, dedup_sql
from django_taskflow.db.postgres_claim import (
    LEASE_UNTIL_SQL,
    capability_filter,
    claim,
    claim_limited,
    lease_offset,
    lock_queue,
)
from django_taskflow.db.postgres_cursor import server_bound_cursor as bound_cursor
from django_taskflow.db.postgres_indexes import (
    PATH_PREFIX_INDEX,
    TAG_INDEX,
    has_tag_sql,
    install_path_prefix_index,
    install_tag_index,
    remove_path_prefix_index,
    remove_tag_index,
)
from django_taskflow.db.postgres_insert import (
    insert_tasks,
    inserts_in_one_statement,
    placeholder,
    write_tasks,
)
from django_taskflow.db.postgres_listen import (
    CANCEL_CHANNEL,
    CHANNEL,
    EVENT_CHANNEL,
    LISTENER_CONNECT_TIMEOUT_SECONDS,
    Waiter,
    connect_listener,
    event_waiter,
    install_event_notify_trigger,
    install_notify_trigger,
    install_service_event_notify_trigger,
    notify,
    notify_cancel,
    notify_service,
    remove_event_notify_trigger,
    remove_notify_trigger,
    remove_service_event_notify_trigger,
    service_waiter,
)

__all__ = [
    "CANCEL_CHANNEL",
    "CHANNEL",
    "COMMITS_IN_ID_ORDER",
    "EVENT_CHANNEL",
    "LEASE_UNTIL_SQL",
    "LISTENER_CONNECT_TIMEOUT_SECONDS",
    "ONE_WRITER",
    "PATH_PREFIX_INDEX",
    "PRUNE_CHUNK_SIZE",
    "PRUNE_PAUSE_RATIO",
    "RECORD_IS_ONE_STATEMENT",
    "TAG_INDEX",
    "Waiter",
    "assign_transaction_id",
    "bound_cursor",
    "cancel_query",
    "capability_filter",
    "claim",
    "claim_limited",
    "commit_horizon",
    "connect_listener",
    "event_waiter",
    "has_tag_sql",
    "hold_dedup_key",
    "insert_tasks",
    "insert_unique_task",
    "inserts_in_one_statement",
    "install_event_notify_trigger",
    "install_notify_trigger",
    "install_path_prefix_index",
    "install_service_event_notify_trigger",
    "install_tag_index",
    "lease_offset",
    "lock_queue",
    "notify",
    "notify_cancel",
    "notify_service",
    "record",
    "remove_event_notify_trigger",
    "remove_notify_trigger",
    "remove_path_prefix_index",
    "remove_service_event_notify_trigger",
    "remove_tag_index",
    "service_waiter",
    "write_tasks",
]

logger = logging.getLogger(__name__)

# Row locks: a transaction holds only the rows it wrote.
ONE_WRITER = False

# Tasks per pruning chunk: a transaction of a few milliseconds.
PRUNE_CHUNK_SIZE = 500
# Pruning's pause after each chunk, as a share of the chunk's time
# (retention.py): a chunk locks only finished rows, which no claim or
# completion touches, so workers do not wait for it; the pause only leaves
# the server's CPU and I/O to them.
PRUNE_PAUSE_RATIO = 0.25


# PostgreSQL types of the completion columns, as ``record`` reads them.
_COMPLETION_CASTS = {
    "id": "uuid",
    "status": "varchar",
    "result": "jsonb",
    "run_after": "timestamptz",
    "started_at": "timestamptz",
    "finished_at": "timestamptz",
    "final_at": "timestamptz",
    "number": "integer",
    "outcome": "varchar",
    "error_class": "varchar",
    "error_message": "text",
    "traceback": "text",
    "error_value": "jsonb",
}


hold_dedup_key = functools.partial(dedup_sql.hold_dedup_key, placeholder=placeholder)
insert_unique_task = functools.partial(dedup_sql.insert_unique_task, placeholder=placeholder)


# -- late commits: what the event stream needs to know -------------------------

# An event's id is drawn when its row is inserted, but the row is seen only
# when its transaction commits, so a lower id can appear after a higher one.
COMMITS_IN_ID_ORDER = False


def assign_transaction_id(cursor: Any) -> None:
    """Give the current transaction its id now, before it draws any event id.

    PostgreSQL assigns a transaction id lazily, at the first row written, and
    ``COPY`` draws ids for a batch of rows before writing them. A stream
    reading events relies on every event id being drawn by a transaction
    that already has its id (see :func:`commit_horizon`). Call it inside the
    transaction that inserts the events.
    """
    cursor.execute("SELECT pg_current_xact_id()")


def commit_horizon(cursor: Any) -> tuple[int, int]:
    """Return the oldest running transaction id and the next id to be assigned.

    Both are 64-bit (``xid8``), so they never wrap around. Every transaction
    whose id is below the first has ended: its rows are visible to any later
    statement. Every transaction that had an id when this statement began
    has one below the second. ``age()`` measures from the next id without
    taking one, but only while the current transaction has none: call this
    in autocommit, outside ``transaction.atomic()``.
    """
    cursor.execute(
        """
        SELECT pg_snapshot_xmin(s)::text::bigint,
               pg_snapshot_xmax(s)::text::bigint + age(pg_snapshot_xmax(s)::xid)
        FROM pg_current_snapshot() AS s
        """
    )
    oldest_running, next_id = cursor.fetchone()
    return int(oldest_running), int(next_id)


# Completion columns as read from the JSON ``record`` sends: texts stay text
# (a JSON text is cast to jsonb in SQL), so each value is passed as it is.
_RECORD_TYPES = {
    **_COMPLETION_CASTS,
    "result": "text",
    "error_value": "text",
}
_RECORD_COMPLETIONS = ", ".join(
    [f"{column} {_RECORD_TYPES[column]}" for column in COMPLETION_COLUMNS]
    # Each attempt's duration bucket and seconds, for the counters.
    + ["bucket float8", "seconds float8"]
)

# Writes outcomes, their Attempt rows and the batch's events in one statement
# (one round trip, atomic without BEGIN and COMMIT). Each column travels in
# one JSON parameter: encoding it is one C call, where a parameter per value
# cost the client more than the rest of the write.
#
# The event stream's first rule (``stream_cursor``): the transaction holds its
# id before it draws any event id. ``xid`` takes it. The event rows are
# joined with it and sorted before the INSERT above them evaluates the id
# default (``nextval``), so no id can be drawn before ``pg_current_xact_id()``
# has run. (Outcome events also wait for the UPDATE's rows, whose first write
# would take the id as well; notes do not.)
_RECORD_SQL = """
WITH v AS MATERIALIZED (
    SELECT * FROM jsonb_to_recordset(%s::jsonb) AS v ({completions})
),
won AS (
    UPDATE {task_table} AS t
    SET status = v.status, result = v.result::jsonb,
        run_after = COALESCE(v.run_after, t.run_after),
        worker_id = NULL, lease_expires_at = NULL,
        started_at = COALESCE(t.started_at, v.started_at),
        last_attempted_at = v.started_at, finished_at = v.final_at
    FROM v
    WHERE t.id = v.id AND t.status = 'running' AND t.worker_id = %s
      AND t.attempts = v.number
      -- a cancelled task is never queued again (see cancellation.py)
      AND (v.status <> 'queued' OR t.cancel_requested_at IS NULL)
    RETURNING t.id, t.backend, t.task_path, v.outcome, v.status, v.bucket, v.seconds
),{counting}
attempts AS (
    INSERT INTO {attempt_table}
        (task_id, number, worker_id, started_at, finished_at, outcome,
         error_class, error_message, traceback, error_value)
    SELECT v.id, v.number, %s, v.started_at, v.finished_at, v.outcome,
           v.error_class, v.error_message, v.traceback, v.error_value::jsonb
    FROM v JOIN won ON won.id = v.id
),
xid AS MATERIALIZED (SELECT pg_current_xact_id() AS xid),
written AS (
    INSERT INTO {event_table} (task_id, kind, attempt, created_at, data)
    SELECT e.task_id, e.kind, e.attempt, e.created_at, e.data::jsonb
    FROM jsonb_to_recordset(%s::jsonb) AS e (
        task_id uuid, kind varchar, attempt integer, created_at timestamptz, data text,
        n integer, outcome boolean
    )
    CROSS JOIN xid
    WHERE xid.xid IS NOT NULL AND (NOT e.outcome OR e.task_id IN (SELECT id FROM won))
    ORDER BY e.n
)
SELECT id FROM won
"""

# The outcomes won, added to the counters (counters.py) in the same statement.
# Rows are locked in one order (the Python order of db.add_counts, which
# other writers use), so two workers adding to the same rows never deadlock.
_COUNT_SQL = """
counted AS (
    INSERT INTO {counter_table} AS c ({key}, attempts, seconds)
    SELECT backend, task_path, outcome, status, bucket, %s::smallint, count(*), sum(seconds)
    FROM won
    GROUP BY backend, task_path, outcome, status, bucket
    ORDER BY backend COLLATE "C", task_path COLLATE "C", outcome COLLATE "C",
        status COLLATE "C", bucket
    ON CONFLICT ({key}) DO UPDATE
    SET attempts = c.attempts + excluded.attempts, seconds = c.seconds + excluded.seconds
),"""

# Writing several statements needs no transaction of the caller's.
RECORD_IS_ONE_STATEMENT = True


_INFINITY = float("inf")
# The completion columns that hold times: sent as ISO text, converted here
# rather than by a ``json.dumps`` hook called for every value it cannot encode.
_TIME_COLUMNS = tuple(
    n for n, column in enumerate(COMPLETION_COLUMNS) if _COMPLETION_CASTS[column] == "timestamptz"
)


def _iso(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


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
    """Write outcomes, their Attempt rows and events in one statement.

    ``completions`` are rows of ``COMPLETION_COLUMNS``; each is guarded by
    status, worker and attempt number, so a task another worker recovered
    meanwhile is left alone. ``events`` are rows of ``EVENT_COLUMNS`` and a
    flag: an outcome's event, written only if its task's outcome was. Their
    ids follow the order given. With ``counter_table``, each outcome written
    is counted there, in the duration bucket and seconds of its entry in
    ``timings`` (one per completion), in the counter rows of ``shard``.
    Returns the ids whose outcome was written.
    """
    # Each id is turned into text once, though it comes with several rows.
    id_texts: dict[Any, str] = {}
    completion_rows = []
    for n, row in enumerate(completions):
        values = list(row)
        values[0] = id_texts[row[0]] = str(row[0])
        for index in _TIME_COLUMNS:
            values[index] = _iso(values[index])
        named = dict(zip(COMPLETION_COLUMNS, values, strict=True))
        if counter_table is not None:
            bucket, named["seconds"] = timings[n]
            # JSON has no infinity; PostgreSQL reads this text as one.
            named["bucket"] = bucket if bucket != _INFINITY else "Infinity"
        completion_rows.append(named)
    event_rows = [
        {
            "task_id": id_texts.get(task_id) or str(task_id),
            "kind": kind,
            "attempt": attempt,
            "created_at": _iso(created_at),
            "data": data,
            "n": n,
            "outcome": outcome,
        }
        for n, (task_id, kind, attempt, created_at, data, outcome) in enumerate(events)
    ]
    cursor.execute(
        _RECORD_SQL.format(
            completions=_RECORD_COMPLETIONS,
            task_table=task_table,
            attempt_table=attempt_table,
            event_table=event_table,
            counting=""
            if counter_table is None
            else _COUNT_SQL.format(counter_table=counter_table, key=", ".join(COUNTER_KEY)),
        ),
        [
            json.dumps(completion_rows),
            worker_id,
            *([] if counter_table is None else [shard]),
            worker_id,
            json.dumps(event_rows),
        ],
    )
    return {row[0] for row in cursor.fetchall()}


def cancel_query(connection: Any) -> None:
    """Ask the server to cancel what ``connection`` runs (from another thread)."""
    import psycopg

    try:
        connection.cancel_safe(timeout=5)
    except psycopg.Error as exc:
        logger.warning(
            "could not cancel a timed-out task's query (%s); the connection is closed instead",
            exc,
            extra={"action": "query_cancel_failed"},
        )


def estimated_rows(cursor: Any, sql: str, params: Sequence[Any]) -> int:
    """The planner's estimate of the rows ``sql`` returns, from ``EXPLAIN``: no rows read.

    It rests on the table's statistics (``ANALYZE``, which autovacuum
    runs), so it is close for the admin's filters but not exact.
    """
    cursor.execute(f"EXPLAIN (FORMAT JSON) {sql}", params)
    plan = cursor.fetchone()[0]
    if isinstance(plan, str):
        plan = json.loads(plan)
    return int(plan[0]["Plan"]["Plan Rows"])
