"""PostgreSQL's claim: ``FOR UPDATE SKIP LOCKED`` in one statement, with a lease
by the database's clock; a limited queue's claim under an advisory lock."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from django_taskflow.db import CLAIM_COLUMNS

# The database clock plus a number of seconds: when a lease taken now ends.
# statement_timestamp(), not now(): inside a transaction, now() stands still.
LEASE_UNTIL_SQL = "(statement_timestamp() + make_interval(secs => %s))"


def lease_offset(seconds: float) -> float:
    """The parameter of ``LEASE_UNTIL_SQL``."""
    return float(seconds)


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


def lock_queue(cursor: Any, *, backend: str, queue: str) -> None:
    """Serialise this transaction's claim from a limited queue with every other one.

    Held until commit. The gated claim (``db/gates.py``) takes it too, so
    plain and gated claims of one queue count each other's tasks.
    """
    cursor.execute(
        "SELECT pg_advisory_xact_lock(%s, hashtext(%s))",
        [_QUEUE_LOCK_SPACE, f"{backend}:{queue}"],
    )


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
    lock_queue(cursor, backend=backend, queue=queue)
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
