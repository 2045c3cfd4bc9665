"""The oldest ready task's ``run_after``, read through the claim and gate indexes.

Plain SQL that PostgreSQL and SQLite both run (recursive CTEs with scalar
subqueries). ``MIN(run_after)`` over the queued rows would read every one
of them: the claim index leads with ``priority``, so ``run_after`` is
sorted only within one priority, and the gate indexes only within one gate
key. This query does a loose index scan instead: it steps from one
distinct priority to the next (one index probe each), takes the first
ready entry of each priority, does the same over the distinct gate keys
of the gated rows, and keeps the smallest. Its cost grows with the number
of distinct priorities and gate keys, not with the queued rows.

A queue filter is checked on the index entries (``queue_name`` is in the
claim index), so, as for the claim itself, a probe steps over the ready
entries of other queues that come before the first of its own.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from django.utils.dateparse import parse_datetime

# The partial indexes' conditions, written out as literals: SQLite uses a
# partial index only when the query's WHERE repeats its condition.
_UNGATED = "status = 'queued' AND gate_key IS NULL"
_GATED = "status = 'queued' AND gate_key IS NOT NULL"


def oldest_ready_run_after(
    cursor: Any,
    *,
    table: str,
    backend: str,
    now: Any,
    queue: str | None = None,
    excluded: Sequence[str] = (),
) -> datetime | None:
    """The smallest ``run_after`` of the ready rows, or None when none is ready.

    Ready: queued with ``run_after <= now`` (``now`` adapted for the
    database), of ``backend``, in ``queue`` when given, and in none of the
    ``excluded`` queues (paused ones). On PostgreSQL, run it inside a
    transaction (for ``SET LOCAL``).
    """
    filters = "AND run_after <= %s AND backend = %s"
    params: list[Any] = [now, backend]
    if queue is not None:
        filters += " AND queue_name = %s"
        params.append(queue)
    if excluded:
        filters += f" AND queue_name NOT IN ({', '.join(['%s'] * len(excluded))})"
        params.extend(excluded)
    if cursor.db.vendor == "postgresql":
        # The planner prices each probe as if it might read many rows, and
        # the sum often passes jit_above_cost: compiling then takes 40-100 ms
        # for a query that runs in under 1 ms (1 M queued rows). SET LOCAL
        # needs the caller's transaction.
        cursor.execute("SET LOCAL jit = off")
    cursor.execute(
        f"""
        WITH RECURSIVE priorities(p) AS (
            SELECT (SELECT priority FROM {table} WHERE {_UNGATED}
                    ORDER BY priority DESC LIMIT 1)
            UNION ALL
            SELECT (SELECT priority FROM {table} WHERE {_UNGATED} AND priority < priorities.p
                    ORDER BY priority DESC LIMIT 1)
            FROM priorities WHERE priorities.p IS NOT NULL
        ),
        gates(g) AS (
            SELECT (SELECT gate_key FROM {table} WHERE {_GATED} ORDER BY gate_key LIMIT 1)
            UNION ALL
            SELECT (SELECT gate_key FROM {table} WHERE {_GATED} AND gate_key > gates.g
                    ORDER BY gate_key LIMIT 1)
            FROM gates WHERE gates.g IS NOT NULL
        )
        SELECT min(oldest) FROM (
            SELECT (SELECT run_after FROM {table}
                    WHERE {_UNGATED} AND priority = priorities.p {filters}
                    ORDER BY priority DESC, run_after LIMIT 1) AS oldest
            FROM priorities WHERE priorities.p IS NOT NULL
            UNION ALL
            SELECT (SELECT run_after FROM {table}
                    WHERE {_GATED} AND gate_key = gates.g {filters}
                    ORDER BY gate_key, run_after LIMIT 1) AS oldest
            FROM gates WHERE gates.g IS NOT NULL
        ) AS firsts
        """,
        [*params, *params],
    )
    row = cursor.fetchone()
    return _as_datetime(row[0] if row else None)


def _as_datetime(value: Any) -> datetime | None:
    # PostgreSQL returns an aware datetime; SQLite, the UTC text Django stored.
    if value is None or isinstance(value, datetime):
        return value
    parsed = parse_datetime(str(value))
    if parsed is None:
        raise ValueError(f"run_after is not a datetime: {value!r}")
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)
