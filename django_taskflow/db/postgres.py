"""PostgreSQL: claim with ``FOR UPDATE SKIP LOCKED``, complete in one statement,
wake workers with ``LISTEN/NOTIFY``."""

from __future__ import annotations

import json
import logging
import threading
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from django.db import connections

from django_taskflow.db import CLAIM_COLUMNS, COMPLETION_COLUMNS, INSERT_COLUMNS

logger = logging.getLogger(__name__)

CHANNEL = "taskflow"

# Row locks: a transaction holds only the rows it wrote.
ONE_WRITER = False

# Tasks per pruning chunk: a transaction of a few milliseconds.
PRUNE_CHUNK_SIZE = 500
# Pruning's pause after each chunk, as a share of the chunk's time
# (retention.py): a chunk locks only finished rows, which no claim or
# completion touches, so workers do not wait for it; the pause only leaves
# the server's CPU and I/O to them.
PRUNE_PAUSE_RATIO = 0.25

# The database clock plus a number of seconds: when a lease taken now ends.
# statement_timestamp(), not now(): inside a transaction, now() stands still.
LEASE_UNTIL_SQL = "(statement_timestamp() + make_interval(secs => %s))"


def lease_offset(seconds: float) -> float:
    """The parameter of ``LEASE_UNTIL_SQL``."""
    return float(seconds)


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


def install_notify_trigger(task_table: str) -> list[str]:
    """SQL that makes every INSERT into the task table NOTIFY the workers."""
    return [
        f"""CREATE OR REPLACE FUNCTION taskflow_notify() RETURNS trigger AS $$
        BEGIN PERFORM pg_notify('{CHANNEL}', ''); RETURN NULL; END;
        $$ LANGUAGE plpgsql""",
        f"""CREATE TRIGGER taskflow_task_notify AFTER INSERT ON {task_table}
        FOR EACH STATEMENT EXECUTE FUNCTION taskflow_notify()""",
    ]


def remove_notify_trigger(task_table: str) -> list[str]:
    return [
        f"DROP TRIGGER IF EXISTS taskflow_task_notify ON {task_table}",
        "DROP FUNCTION IF EXISTS taskflow_notify()",
    ]


# Live progress: web processes relaying the event log wait on this channel.
EVENT_CHANNEL = "taskflow_event"


def install_event_notify_trigger(event_table: str) -> list[str]:
    """SQL that makes every statement inserting events NOTIFY the live relays.

    Once per statement, however many rows (the recorder writes a batch in
    one), and delivered at commit, so a relay never reads ahead of the rows.
    """
    return [
        f"""CREATE OR REPLACE FUNCTION taskflow_event_notify() RETURNS trigger AS $$
        BEGIN PERFORM pg_notify('{EVENT_CHANNEL}', ''); RETURN NULL; END;
        $$ LANGUAGE plpgsql""",
        f"""CREATE TRIGGER taskflow_event_notify AFTER INSERT ON {event_table}
        FOR EACH STATEMENT EXECUTE FUNCTION taskflow_event_notify()""",
    ]


def remove_event_notify_trigger(event_table: str) -> list[str]:
    return [
        f"DROP TRIGGER IF EXISTS taskflow_event_notify ON {event_table}",
        "DROP FUNCTION IF EXISTS taskflow_event_notify()",
    ]


# PostgreSQL types of the columns enqueue writes.
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
    # A limited task's gate (limits.GATE_COLUMNS).
    "gate_key": "varchar",
    "concurrency_key": "varchar",
    "concurrency_limit": "integer",
    "concurrency_strategy": "varchar",
    "rate_key": "varchar",
    "rate_limit": "integer",
    "rate_seconds": "double precision",
}


def _insert_row(columns: Sequence[str]) -> str:
    return "(" + ", ".join(f"%s::{_INSERT_CASTS[c]}" for c in columns) + ")"


_INSERT_ROW = _insert_row(INSERT_COLUMNS)


def inserts_in_one_statement(row_count: int) -> bool:
    """Whether :func:`insert_tasks` writes ``row_count`` rows in one statement.

    Always: a multi-row ``INSERT`` or one ``COPY``. A statement run in
    autocommit is a transaction of its own, all of it or nothing.
    """
    return True


def insert_tasks(
    cursor: Any,
    *,
    table: str,
    rows: Sequence[Sequence[Any]],
    columns: Sequence[str] = INSERT_COLUMNS,
) -> None:
    """Insert task rows: one INSERT for a few, COPY for many (several times faster).

    ``columns`` name the values of each row: ``INSERT_COLUMNS``, plus the
    gate's columns for a limited task.
    """
    names = ", ".join(columns)
    if len(rows) < 50:
        row = _INSERT_ROW if columns is INSERT_COLUMNS else _insert_row(columns)
        cursor.execute(
            f"INSERT INTO {table} ({names}) VALUES {', '.join([row] * len(rows))}",
            [value for values in rows for value in values],
        )
        return
    _copy(cursor, table, columns, rows)


def hold_dedup_key(
    cursor: Any,
    *,
    table: str,
    key: str,
    task_id: Any,
    expires_at: Any,
    take_over_before: Any,
) -> bool:
    """Take ``key`` for ``task_id`` unless another task holds it; True when taken.

    One statement: the key's row is inserted, or taken over when it
    expired before ``take_over_before``. When another transaction holds
    the row, this waits for it to end. A row it does not take stays locked
    until the caller's transaction ends (``ON CONFLICT DO UPDATE`` locks
    the row before it checks the ``WHERE``), so concurrent enqueues of one
    key take turns.
    """
    cursor.execute(
        f"""
        INSERT INTO {table} (key, task_id, expires_at)
        VALUES (%s::varchar, %s::uuid, %s::timestamptz)
        ON CONFLICT (key) DO UPDATE
        SET task_id = excluded.task_id, expires_at = excluded.expires_at
        WHERE {table}.expires_at <= %s::timestamptz
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
) -> bool:
    """Insert one task row with ``unique_key`` unless a queued or running task has it.

    True when inserted. The conflict target repeats the condition of the
    partial unique index ``taskflow_task_unique_active`` (models/task.py),
    which is how the database picks that index.
    """
    cursor.execute(
        f"""
        INSERT INTO {table} ({", ".join(columns)}, unique_key)
        VALUES {_insert_row(columns)[:-1]}, %s::varchar)
        ON CONFLICT (unique_key) WHERE (status IN ('queued', 'running') AND unique_key IS NOT NULL)
        DO NOTHING
        RETURNING id
        """,
        [*row, unique_key],
    )
    return cursor.fetchone() is not None


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


def _copy(cursor: Any, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    # COPY runs on psycopg's own cursor: translate its errors as Django would,
    # so callers see OperationalError for a lost connection.
    with (
        cursor.db.wrap_database_errors,
        cursor.cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy,
    ):
        for row in rows:
            copy.write_row(row)


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
    """Lock up to ``limit`` ready rows that no one else holds and mark them running.

    ``now`` decides which rows are ready (``run_after``); the lease is
    ``lease_seconds`` from now by the database's clock. ``queues`` empty
    means every queue but ``excluded``. Only rows whose ``requires`` is
    NULL, or within ``capabilities``, are taken.

    The row lock re-checks ``status = 'queued'`` on the newest row version,
    so the outer UPDATE needs no status filter; without one the planner
    joins on the primary key instead of rescanning the claim index, which
    it did when statistics said few rows were queued.

    Rows with a gate (a concurrency cap or a rate limit) are claimed by
    ``db.gates`` instead; the claim index holds only the others.
    """
    queue_filter, queue_params = _queue_filter(queues, excluded)
    requires_filter, capability_params = capability_filter(capabilities)
    cursor.execute(
        _claim_sql(table, f"{queue_filter} {requires_filter}", "%s"),
        [
            now,
            backend,
            *queue_params,
            *capability_params,
            limit,
            worker_id,
            lease_offset(lease_seconds),
        ],
    )
    return cursor.fetchall()  # type: ignore[no-any-return]


# The first key of the advisory locks that serialise a limited queue's claims.
_QUEUE_LOCK_SPACE = 0x7466  # "tf"


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

    Run inside a transaction. The advisory lock, keyed by backend and
    queue, serialises the claims of this queue across all workers, and it
    is held until commit; the claim is a statement of its own, so its
    snapshot, taken after the lock, counts every task the previous holder
    claimed. Prefetched tasks are ``running`` too, so they count.
    """
    cursor.execute(
        "SELECT pg_advisory_xact_lock(%s, hashtext(%s))",
        [_QUEUE_LOCK_SPACE, f"{backend}:{queue}"],
    )
    requires_filter, capability_params = capability_filter(capabilities)
    room = (
        f"LEAST(%s, GREATEST(0, %s - (SELECT count(*) FROM {table} "
        "WHERE status = 'running' AND backend = %s AND queue_name = %s)))"
    )
    cursor.execute(
        _claim_sql(table, f"AND queue_name = %s {requires_filter}", room),
        [
            now,
            backend,
            queue,
            *capability_params,
            limit,
            queue_limit,
            backend,
            queue,
            worker_id,
            lease_offset(lease_seconds),
        ],
    )
    return cursor.fetchall()  # type: ignore[no-any-return]


# A claim that a server crash loses sends its tasks round again, as a lost
# worker does, so most claims need not wait for the WAL to reach the disk
# (a few ms of the idle latency). Not when it took an ``on_lost="fail"``
# task: that one must never run twice, so its claim is made durable.
_CLAIM_DURABILITY = """
    SELECT set_config(
        'synchronous_commit',
        CASE WHEN bool_or(on_lost = 'fail') THEN 'on' ELSE 'off' END,
        true
    ) FROM claimed
"""


def _claim_sql(table: str, filters: str, limit: str) -> str:
    returning = ", ".join(f"t.{column}" for column in CLAIM_COLUMNS)
    return f"""
        WITH ready AS MATERIALIZED (
            SELECT id FROM {table}
            WHERE status = 'queued' AND gate_key IS NULL AND run_after <= %s AND backend = %s
                {filters}
            ORDER BY priority DESC, run_after, id
            LIMIT {limit}
            FOR UPDATE SKIP LOCKED
        ),
        claimed AS (
            UPDATE {table} AS t
            SET status = 'running', worker_id = %s, lease_expires_at = {LEASE_UNTIL_SQL},
                attempts = t.attempts + 1
            FROM ready
            WHERE t.id = ready.id
            RETURNING {returning}
        ),
        durability AS MATERIALIZED ({_CLAIM_DURABILITY})
        SELECT {", ".join(f"claimed.{column}" for column in CLAIM_COLUMNS)}
        FROM claimed CROSS JOIN durability
        """


def _queue_filter(queues: Sequence[str], excluded: Sequence[str]) -> tuple[str, list[Any]]:
    if queues:
        return "AND queue_name = ANY(%s)", [list(queues)]
    if excluded:
        return "AND queue_name <> ALL(%s)", [list(excluded)]
    return "", []


def capability_filter(capabilities: Sequence[str]) -> tuple[str, list[Any]]:
    """Rows that need nothing, or only what the worker offers.

    ``requires`` is NULL for most tasks: the test costs them nothing
    measurable, as the row is read for ``backend`` anyway.
    """
    if not capabilities:
        return "AND requires IS NULL", []
    return "AND (requires IS NULL OR requires <@ %s::jsonb)", [json.dumps(sorted(capabilities))]


# Completion columns as read from the JSON ``record`` sends: texts stay text
# (a JSON text is cast to jsonb in SQL), so each value is passed as it is.
_RECORD_TYPES = {
    **_COMPLETION_CASTS,
    "result": "text",
    "error_value": "text",
}
_RECORD_COMPLETIONS = ", ".join(
    f"{column} {_RECORD_TYPES[column]}" for column in COMPLETION_COLUMNS
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
    SELECT * FROM json_to_recordset(%s::json) AS v ({completions})
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
    RETURNING t.id
),
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
    FROM json_to_recordset(%s::json) AS e (
        task_id uuid, kind varchar, attempt integer, created_at timestamptz, data text,
        n integer, outcome boolean
    )
    CROSS JOIN xid
    WHERE xid.xid IS NOT NULL AND (NOT e.outcome OR e.task_id IN (SELECT id FROM won))
    ORDER BY e.n
)
SELECT id FROM won
"""

# Writing several statements needs no transaction of the caller's.
RECORD_IS_ONE_STATEMENT = True


def _plain(value: Any) -> str:
    """JSON for what ``json`` cannot encode itself: ids and times."""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    raise TypeError(f"cannot send {type(value).__name__} as JSON")


def record(
    cursor: Any,
    *,
    task_table: str,
    attempt_table: str,
    event_table: str,
    worker_id: str,
    completions: Sequence[Sequence[Any]],
    events: Sequence[Sequence[Any]],
) -> set[Any]:
    """Write outcomes, their Attempt rows and events in one statement.

    ``completions`` are rows of ``COMPLETION_COLUMNS``; each is guarded by
    status, worker and attempt number, so a task another worker recovered
    meanwhile is left alone. ``events`` are rows of ``EVENT_COLUMNS`` and a
    flag: an outcome's event, written only if its task's outcome was. Their
    ids follow the order given. Returns the ids whose outcome was written.
    """
    # Each id is turned into text once, though it comes with several rows.
    id_texts: dict[Any, str] = {}
    completion_rows = []
    for row in completions:
        named = dict(zip(COMPLETION_COLUMNS, row, strict=True))
        named["id"] = id_texts[row[0]] = str(row[0])
        completion_rows.append(named)
    event_rows = [
        {
            "task_id": id_texts.get(task_id) or str(task_id),
            "kind": kind,
            "attempt": attempt,
            "created_at": created_at,
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
        ),
        [
            json.dumps(completion_rows, default=_plain),
            worker_id,
            worker_id,
            json.dumps(event_rows, default=_plain),
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


def notify(cursor: Any) -> None:
    """Wake waiting workers (sent when the transaction commits)."""
    cursor.execute("SELECT pg_notify(%s, '')", [CHANNEL])


# Cancel requests for running tasks: the payload is "<worker id> <task id>".
CANCEL_CHANNEL = "taskflow_cancel"


def notify_cancel(cursor: Any, requests: Sequence[tuple[str, str]]) -> None:
    """Tell the workers holding these (worker id, task id) pairs to stop the tasks.

    Sent when the transaction commits; the supervisor of each worker id
    passes it on to that slot (``worker/wakeup.py``).
    """
    if requests:
        cursor.execute(
            "SELECT pg_notify(%s, payload) FROM unnest(%s::text[]) AS payload",
            [CANCEL_CHANNEL, [f"{worker_id} {task_id}" for worker_id, task_id in requests]],
        )


class Waiter:
    """Sleeps until a NOTIFY arrives, the timeout passes or ``stop`` is set.

    Uses its own connection. If that connection breaks, it falls back to
    polling and reconnects on the next wait, logging both.
    """

    def __init__(
        self, database: str, stop: threading.Event, channels: Sequence[str] = (CHANNEL,)
    ) -> None:
        self.database = database
        self.stop = stop
        self.channels = channels
        self.connection: Any = None

    def _connect(self) -> Any:
        return connect_listener(self.database, self.channels)

    def wait(self, timeout: float) -> bool:
        """Return True when woken by a notification."""
        import psycopg

        try:
            if self.connection is None:
                self.connection = self._connect()
                logger.debug("listening for %s notifications", ", ".join(self.channels))
            # Short slices so that a stop request is seen promptly.
            remaining = timeout
            while remaining > 0 and not self.stop.is_set():
                step = min(remaining, 0.25)
                for _notification in self.connection.notifies(timeout=step, stop_after=1):
                    return True
                remaining -= step
            return False
        except psycopg.Error as exc:
            logger.warning(
                "LISTEN connection failed (%s); polling until it reconnects",
                exc,
                extra={"action": "listener_failed"},
            )
            self.close()
            self.stop.wait(timeout)
            return False

    def close(self) -> None:
        if self.connection is not None:
            try:
                self.connection.close()
            finally:
                self.connection = None


def event_waiter(database: str, stop: threading.Event) -> Waiter:
    """A waiter woken when events are committed (the live relay's)."""
    return Waiter(database, stop, channels=(EVENT_CHANNEL,))


# A listener that cannot reach the server gives up after this long, rather
# than hold up the worker's supervisor, which opens one in its watch loop.
LISTENER_CONNECT_TIMEOUT_SECONDS = 10


def connect_listener(database: str, channels: Sequence[str] = (CHANNEL,)) -> Any:
    """Open a connection of its own, in autocommit, that listens for wake-ups (``LISTEN``)."""
    import psycopg

    params = connections[database].get_connection_params()
    for private in ("cursor_factory", "context", "server_side_binding"):
        params.pop(private, None)
    params.setdefault("connect_timeout", LISTENER_CONNECT_TIMEOUT_SECONDS)
    connection = psycopg.connect(**params, autocommit=True)
    for channel in channels:
        connection.execute(f"LISTEN {channel}")
    return connection


# find_tasks(tag=...): a GIN index on the tags of tagged rows only, so that
# untagged tasks (most) cost an insert nothing more than the predicate.
TAG_INDEX = "taskflow_task_tags_idx"


def install_tag_index(task_table: str) -> list[str]:
    return [
        f"CREATE INDEX IF NOT EXISTS {TAG_INDEX} ON {task_table} "
        "USING gin (tags jsonb_path_ops) WHERE tags <> '[]'::jsonb"
    ]


def remove_tag_index(task_table: str) -> list[str]:
    return [f"DROP INDEX IF EXISTS {TAG_INDEX}"]


def has_tag_sql(table: str) -> str:
    """A condition on the task row: its tags include the parameter.

    Repeats the partial index's predicate, so that the planner can use it.
    """
    return f"({table}.tags <> '[]'::jsonb AND {table}.tags @> jsonb_build_array(%s::text))"


# The admin's search by name: a prefix of task_path (LIKE 'prefix%'). The
# plain B-tree on task_path serves LIKE only under the "C" collation; with
# the pattern operator class it does under any.
PATH_PREFIX_INDEX = "taskflow_task_path_prefix_idx"


def install_path_prefix_index(task_table: str) -> list[str]:
    return [
        f"CREATE INDEX IF NOT EXISTS {PATH_PREFIX_INDEX} ON {task_table} "
        "(task_path varchar_pattern_ops)"
    ]


def remove_path_prefix_index(task_table: str) -> list[str]:
    return [f"DROP INDEX IF EXISTS {PATH_PREFIX_INDEX}"]
