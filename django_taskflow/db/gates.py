"""Vendor SQL of the gated claim: tasks under a concurrency cap or a rate limit.

Rows of such tasks carry a ``gate_key`` (see ``limits.gate_for``); the plain
claim skips them (``gate_key IS NULL``) and never changes for them. Here a
slot takes one gated task at a time, in three steps (``claim.claim_gated``):

1. :func:`candidates`: a loose scan of the gated claim index lists the gates
   (groups) with queued work, in key order from a cursor, each with
   whether it has a task ready now and the numbers that say whether it has
   room: its group's running tasks, and
   its rate key's starts in the current window. A hint only: it reads
   without locks.
2. :func:`lock`: in a transaction of its own, the gate is locked, so that no
   other claimer of the same group counts at the same time: PostgreSQL
   takes transaction-scoped advisory locks (never waiting: a gate being
   claimed by someone else is skipped); SQLite has one writer at a time.
3. :func:`claim`: one statement, under the lock and with a snapshot taken
   after it, counts again and claims the group's next task (by the gate's
   strategy) only if there is still room, then records the start for the
   rate limit and prunes the starts that left the window. The limits are
   those the look read on the gate's next ready task (in fifo order): a
   row enqueued with other limits (``using()``) sets them when it is next.

Running tasks are counted, not tracked in a counter: a slot held by a
crashed worker is free again as soon as its lease is recovered.

A queue's limit (``OPTIONS["QUEUE_LIMITS"]`` or its override) holds for
gated tasks too. A gate whose next task is in a limited queue claims from
that queue only, under the queue's lock (the one the plain limited claim
takes), and only while the queue's running tasks, gated or not, are under
the limit; any other gate claims from unlimited queues only.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from django_taskflow.db import CLAIM_COLUMNS, postgres, sqlite

# The order in which a group's waiting tasks start, by Concurrency.strategy.
# fifo and lifo read the gate index forwards and backwards; priority has an
# index of its own; random sorts the group's ready rows.
ORDER_BY = {
    "fifo": "run_after, id",
    "lifo": "run_after DESC, id DESC",
    "priority": "priority DESC, run_after, id",
    "random": "random()",
}

# Advisory lock namespaces (the first key of PostgreSQL's two-key locks).
_CONCURRENCY_LOCK = 0x7466_0001
_RATE_LOCK = 0x7466_0002


@dataclass(frozen=True, slots=True)
class Candidate:
    """A gate with queued work, and what its limits looked like when read."""

    gate_key: str
    ready: bool  # it has a task ready to start in the queues asked for
    concurrency_key: str | None
    concurrency_limit: int | None
    strategy: str | None
    rate_key: str | None
    rate_limit: int | None
    rate_seconds: float | None
    running: int  # the concurrency group's running tasks
    started: int  # the rate key's starts in the window that ends now
    oldest_start: Any  # the first of those starts (a datetime, or SQLite's text)
    queue_name: str | None  # the queue of the gate's next ready task

    @property
    def has_room(self) -> bool:
        if not self.ready:
            return False
        if self.concurrency_limit is not None and self.running >= self.concurrency_limit:
            return False
        return self.rate_limit is None or self.started < self.rate_limit


# The partial indexes of the gated claim (models/task.py). SQLite is told to
# use them: on a database never analysed, its planner walked every queued
# row through the status index instead (50 ms a look with 20,000 queued).
GATE_INDEX = "taskflow_task_gate_idx"
GATE_PRIORITY_INDEX = "taskflow_task_gate_prio_idx"
RUNNING_INDEX = "taskflow_task_group_running"


def _indexed_by(vendor: str, index: str) -> str:
    return "" if vendor == "postgresql" else f"INDEXED BY {index}"


def _window_start(vendor: str, seconds_sql: str) -> str:
    """SQL for the database's clock minus ``seconds_sql`` seconds."""
    if vendor == "postgresql":
        return f"(statement_timestamp() - make_interval(secs => ({seconds_sql})::float8))"
    return f"strftime('%%Y-%%m-%%d %%H:%%M:%%f', 'now', '-' || ({seconds_sql}) || ' seconds')"


def _clock(vendor: str) -> str:
    if vendor == "postgresql":
        return "statement_timestamp()"
    return "strftime('%%Y-%%m-%%d %%H:%%M:%%f', 'now')"


def _queue_filter(
    vendor: str,
    column: str,
    queues: Sequence[str],
    excluded: Sequence[str] = (),
    capabilities: Collection[str] = frozenset(),
) -> tuple[str, list[Any]]:
    """The rows of ``queues`` (empty: every queue but ``excluded``) that this worker can run.

    ``requires`` must be offered by ``capabilities`` (see the dialects'
    ``capability_filter``).
    """
    sql, params = "", list[Any]()
    for names, operator in ((queues, "IN"), (excluded, "NOT IN")):
        if not names:
            continue
        if vendor == "postgresql":
            sql += f" AND {'' if operator == 'IN' else 'NOT '}{column} = ANY(%s)"
            params.append(list(names))
        else:
            sql += f" AND {column} {operator} ({', '.join(['%s'] * len(names))})"
            params += list(names)
    dialect = postgres if vendor == "postgresql" else sqlite
    requires_sql, requires_params = dialect.capability_filter(sorted(capabilities))
    table = column.rsplit(".", 1)[0] + "." if "." in column else ""
    sql += " " + requires_sql.replace("requires", f"{table}requires")
    return sql, [*params, *requires_params]


def candidates(
    cursor: Any,
    *,
    vendor: str,
    table: str,
    rate_table: str,
    backend: str,
    queues: Sequence[str],
    excluded: Sequence[str] = (),
    capabilities: Collection[str] = frozenset(),
    now: Any,
    after: str,
    limit: int,
) -> list[Candidate]:
    """Up to ``limit`` gates with queued work and a key after ``after``, in key order.

    Gates without a task ready now in ``queues`` come too (``ready`` is
    False), so that the caller's cursor moves past them.
    """
    queue_filter, queue_params = _queue_filter(
        vendor, "x.queue_name", queues, excluded, capabilities
    )
    window = _window_start(vendor, "h.rate_seconds")
    by_gate = _indexed_by(vendor, GATE_INDEX)
    by_running = _indexed_by(vendor, RUNNING_INDEX)
    cursor.execute(
        f"""
        WITH RECURSIVE gates (gate_key, n) AS (
            SELECT (
                SELECT gate_key FROM {table} {by_gate}
                WHERE status = 'queued' AND gate_key IS NOT NULL AND gate_key > %s
                ORDER BY gate_key LIMIT 1
            ), 1
            UNION ALL
            SELECT (
                SELECT t.gate_key FROM {table} AS t {by_gate}
                WHERE t.status = 'queued' AND t.gate_key IS NOT NULL AND t.gate_key > g.gate_key
                ORDER BY t.gate_key LIMIT 1
            ), g.n + 1
            FROM gates AS g WHERE g.gate_key IS NOT NULL AND g.n < %s
        )
        SELECT g.gate_key, h.id IS NOT NULL, h.concurrency_key, h.concurrency_limit, h.concurrency_strategy,
            h.rate_key, h.rate_limit, h.rate_seconds,
            (SELECT count(*) FROM {table} AS r {by_running}
             WHERE r.concurrency_key = h.concurrency_key AND r.status = 'running'),
            (SELECT count(*) FROM {rate_table} AS s
             WHERE s.rate_key = h.rate_key AND s.started_at > {window}),
            (SELECT min(s.started_at) FROM {rate_table} AS s
             WHERE s.rate_key = h.rate_key AND s.started_at > {window}),
            h.queue_name
        FROM gates AS g
        LEFT JOIN {table} AS h ON h.id = (
            SELECT x.id FROM {table} AS x {by_gate}
            WHERE x.gate_key = g.gate_key AND x.status = 'queued' AND x.run_after <= %s
              AND x.backend = %s {queue_filter}
            ORDER BY x.run_after, x.id LIMIT 1
        )
        WHERE g.gate_key IS NOT NULL
        ORDER BY g.n
        """,
        [after, limit, now, backend, *queue_params],
    )
    return [Candidate(row[0], bool(row[1]), *row[2:]) for row in cursor.fetchall()]


def without_queues(
    queues: Sequence[str], excluded: Sequence[str], left_out: Collection[str]
) -> tuple[tuple[str, ...], tuple[str, ...]] | None:
    """``queues`` and ``excluded`` (as :func:`candidates` takes them) with ``left_out`` removed.

    None when nothing is left: an empty ``queues`` would mean every queue.
    """
    if not left_out:
        return tuple(queues), tuple(excluded)
    if not queues:
        return (), tuple(sorted({*excluded, *left_out}))
    kept = tuple(name for name in queues if name not in left_out)
    return (kept, tuple(excluded)) if kept else None


def lock(
    cursor: Any, *, vendor: str, candidate: Candidate, backend: str, queue_limited: bool = False
) -> bool:
    """Lock the candidate's groups for this transaction; False if another claimer holds one.

    Never waits for a group, so two claimers can never wait on each other.
    With ``queue_limited``, the lock of the candidate's queue is taken
    next, waiting for it as the plain limited claim does: its holders wait
    for no lock of a group. SQLite needs no lock: writers take turns.
    """
    if vendor != "postgresql":
        return True
    cursor.execute(
        """SELECT (%s::text IS NULL OR pg_try_advisory_xact_lock(%s::int4, hashtext(%s)))
              AND (%s::text IS NULL OR pg_try_advisory_xact_lock(%s::int4, hashtext(%s)))""",
        [
            candidate.concurrency_key,
            _CONCURRENCY_LOCK,
            candidate.concurrency_key,
            candidate.rate_key,
            _RATE_LOCK,
            candidate.rate_key,
        ],
    )
    if not cursor.fetchone()[0]:
        return False
    if queue_limited and candidate.queue_name is not None:
        postgres.lock_queue(cursor, backend=backend, queue=candidate.queue_name)
    return True


def claim(
    cursor: Any,
    *,
    vendor: str,
    table: str,
    rate_table: str,
    candidate: Candidate,
    worker_id: str,
    backend: str,
    queues: Sequence[str],
    excluded: Sequence[str] = (),
    capabilities: Collection[str] = frozenset(),
    queue_limits: Mapping[str, int],
    lease_sql: str,
    lease_offset: Any,
    now: Any,
) -> list[tuple[Any, ...]]:
    """Claim the gate's next task if its groups still have room; call it under :func:`lock`.

    ``queue_limits`` are the limits in force of the queues served. Returns
    the claimed row (``CLAIM_COLUMNS``), or nothing. Call it inside a
    transaction: on SQLite the start of the rate window is written by a
    second statement.
    """
    order = ORDER_BY.get(candidate.strategy or "fifo", ORDER_BY["fifo"])
    queue_limit = queue_limits.get(candidate.queue_name or "")
    served = (
        ((candidate.queue_name or "",), ())
        if queue_limit is not None
        else without_queues(queues, excluded, queue_limits.keys())
    )
    if served is None:
        return []
    queue_filter, queue_params = _queue_filter(vendor, "queue_name", *served, capabilities)
    window = _window_start(vendor, "%s")
    by_running = _indexed_by(vendor, RUNNING_INDEX)
    head_index = GATE_PRIORITY_INDEX if candidate.strategy == "priority" else GATE_INDEX
    by_gate = _indexed_by(vendor, head_index)
    # The limits are the gate's (those of its next task, as the look read
    # them), compared once: a full group stops the statement before it
    # reads any of its rows.
    room = (
        f"gate_key = %s AND status = 'queued' AND run_after <= %s AND backend = %s {queue_filter}"
    )
    room_params = [candidate.gate_key, now, backend, *queue_params]
    if candidate.concurrency_limit is not None:
        room += f"""
        AND %s > (SELECT count(*) FROM {table} AS r {by_running}
                  WHERE r.concurrency_key = %s AND r.status = 'running')"""
        room_params += [candidate.concurrency_limit, candidate.concurrency_key]
    if queue_limit is not None:
        room += f"""
        AND %s > (SELECT count(*) FROM {table} AS q
                  WHERE q.status = 'running' AND q.backend = %s AND q.queue_name = %s)"""
        room_params += [queue_limit, backend, candidate.queue_name]
    if candidate.rate_limit is not None:
        room += f"""
        AND %s > (SELECT count(*) FROM {rate_table} AS s
                  WHERE s.rate_key = %s AND s.started_at > {window})"""
        room_params += [candidate.rate_limit, candidate.rate_key, candidate.rate_seconds]
    claimed = "status = 'running', worker_id = %s, lease_expires_at = " + lease_sql
    if vendor == "postgresql":
        returning = ", ".join(f"t.{column}" for column in CLAIM_COLUMNS)
        cursor.execute(
            f"""
            WITH head AS (
                SELECT id FROM {table} WHERE {room}
                ORDER BY {order} LIMIT 1 FOR UPDATE SKIP LOCKED
            ),
            claimed AS (
                UPDATE {table} AS t SET {claimed}, attempts = t.attempts + 1
                FROM head WHERE t.id = head.id
                RETURNING {returning}, t.rate_key AS start_key
            ),
            started AS (
                INSERT INTO {rate_table} (rate_key, started_at)
                SELECT start_key, statement_timestamp() FROM claimed WHERE start_key IS NOT NULL
            ),
            pruned AS (
                DELETE FROM {rate_table}
                WHERE rate_key IN (SELECT start_key FROM claimed)
                  AND started_at <= {_window_start(vendor, "%s")}
            )
            SELECT {", ".join(CLAIM_COLUMNS)} FROM claimed
            """,
            [*room_params, worker_id, lease_offset, candidate.rate_seconds],
        )
        return cursor.fetchall()  # type: ignore[no-any-return]
    cursor.execute(
        f"""
        UPDATE {table} SET {claimed}, attempts = attempts + 1
        WHERE id = (SELECT id FROM {table} {by_gate} WHERE {room} ORDER BY {order} LIMIT 1)
        RETURNING {", ".join(CLAIM_COLUMNS)}, rate_key
        """,
        [worker_id, lease_offset, *room_params],
    )
    rows = cursor.fetchall()
    for *_columns, rate_key in rows:
        if rate_key is not None:
            cursor.execute(
                f"INSERT INTO {rate_table} (rate_key, started_at) VALUES (%s, {_clock(vendor)})",
                [rate_key],
            )
            cursor.execute(
                f"DELETE FROM {rate_table} WHERE rate_key = %s AND started_at <= {window}",
                [rate_key, candidate.rate_seconds],
            )
    return [tuple(row[:-1]) for row in rows]
