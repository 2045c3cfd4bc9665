"""The hot path's first half: take ready tasks for this worker, in one round trip.

Ordering within a queue: priority (highest first), then ``run_after``, then
enqueue order (ids are time-ordered). Which queue a worker claims from next
is ``queues.StrideScheduler``'s choice, by the queues' weights. Claimed rows are ``running`` with this worker's id
and a lease; the attempt counter goes up at claim.

Tasks under a concurrency cap or a rate limit (rows with a ``gate_key``)
are left out of :func:`claim_batch`; :func:`claim_gated` takes them one at
a time, each only when its group has room (see ``db/gates.py``).
"""

from __future__ import annotations

import contextlib
import json
import logging
import uuid
from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any

from django.db import connections, transaction
from django.db.models import Count
from django.utils.dateparse import parse_datetime

from django_taskflow import models
from django_taskflow.db import CLAIM_COLUMNS, dialect_for, gates
from django_taskflow.states import Status

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True, kw_only=True)
class ClaimedTask:
    """What a worker needs to run one claimed task."""

    id: uuid.UUID
    task_path: str
    backend: str
    queue_name: str
    priority: int
    args: list[Any]
    kwargs: dict[str, Any]
    attempt: int  # counts every attempt, this one included
    max_attempts: int
    lost_attempts: int  # of the earlier attempts, those lost or interrupted (uncharged)
    on_lost: str  # "requeue" or "fail" (never prefetched)
    retry_policy: dict[str, Any]
    timeout_soft: float | None
    timeout_hard: float | None
    key: str | None
    tags: list[str]
    run_after: datetime
    enqueued_at: datetime
    started_at: datetime | None
    # Under a concurrency cap or a rate limit: claimed only to start at once,
    # never prefetched; the slot's next look for such work waits for its outcome.
    gated: bool = False
    # A step of a flow: its outcome advances the flow once it is committed.
    flow_id: uuid.UUID | None = None
    # How the payload is stored (django_taskflow.encoding.stored); None: plain JSON.
    encoding: str | None = None


def _uuid(value: Any) -> uuid.UUID:
    return value if isinstance(value, uuid.UUID) else uuid.UUID(value)


def _datetime(value: Any) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    parsed = parse_datetime(value)
    if parsed is not None and parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)  # SQLite keeps UTC without an offset
    return parsed


# What most tasks store: no arguments, no tags. Decoded without the parser.
_EMPTY_JSON: dict[str, Any] = {"[]": list, "{}": dict}


def _json(value: Any) -> Any:
    if not isinstance(value, str | bytes):
        return value  # already decoded by the driver
    if isinstance(value, str):
        empty = _EMPTY_JSON.get(value)
        if empty is not None:
            return empty()
        if value[:1] == '"' and value[-1:] == '"' and value.count('"') == 2 and "\\" not in value:
            # A string without escapes (an encoded payload is base64): its
            # text between the quotes, without the parser's two regex passes.
            return value[1:-1]
    return json.loads(value)


@lru_cache(maxsize=256)
def _policy(text: str) -> dict[str, Any]:
    return json.loads(text)  # type: ignore[no-any-return]


def _retry_policy(value: Any) -> dict[str, Any]:
    # Few distinct policies, one per task definition: decode each once. A
    # copy each time, so that no task's dict is another's.
    return dict(_policy(value)) if isinstance(value, str) else _json(value)


def _read(row: dict[str, Any], gated: bool = False) -> ClaimedTask:
    return ClaimedTask(
        gated=gated,
        id=_uuid(row["id"]),
        task_path=row["task_path"],
        backend=row["backend"],
        queue_name=row["queue_name"],
        priority=row["priority"],
        args=_json(row["args"]),
        kwargs=_json(row["kwargs"]),
        attempt=row["attempts"],
        max_attempts=row["max_attempts"],
        retry_policy=_retry_policy(row["retry_policy"]),
        timeout_soft=row["timeout_soft"],
        timeout_hard=row["timeout_hard"],
        key=row["key"],
        tags=_json(row["tags"]),
        run_after=_datetime(row["run_after"]),  # type: ignore[arg-type]
        enqueued_at=_datetime(row["enqueued_at"]),  # type: ignore[arg-type]
        started_at=_datetime(row["started_at"]),
        lost_attempts=row["lost_attempts"],
        on_lost=row["on_lost"],
        flow_id=None if row["flow_id"] is None else _uuid(row["flow_id"]),
        encoding=row["encoding"],
    )


def claim_batch(
    *,
    database: str,
    worker_id: str,
    backend: str = "default",
    queues: Sequence[str],
    limit: int,
    lease_seconds: float,
    now: datetime,
    excluded: Sequence[str] = (),
    capabilities: Collection[str] = (),
    queue_limit: int | None = None,
) -> list[ClaimedTask]:
    """Mark up to ``limit`` ready tasks running for ``worker_id`` and return them.

    Only tasks of the ``backend`` alias are taken; an empty ``queues`` means
    every queue but ``excluded``. Tasks that require capabilities are taken
    only if ``capabilities`` has all of them. ``now`` decides which tasks
    are ready (``run_after``); the lease lasts ``lease_seconds`` by the
    database's clock.

    With a ``queue_limit``, ``queues`` is one queue, and the claim keeps
    that queue's running tasks, across all workers, within the limit: in a
    transaction of its own, serialised with the queue's other claims.
    """
    connection = connections[database]
    ops = connection.ops
    dialect = dialect_for(database)
    offered = sorted(capabilities)
    with dialect.bound_cursor(connection) as cursor:
        if queue_limit is None:
            rows = dialect.claim(
                cursor,
                table=models.Task._meta.db_table,
                worker_id=worker_id,
                backend=backend,
                queues=queues,
                limit=limit,
                lease_seconds=lease_seconds,
                now=ops.adapt_datetimefield_value(now),
                excluded=excluded,
                capabilities=offered,
            )
        else:
            (queue,) = queues
            with transaction.atomic(using=database):
                rows = dialect.claim_limited(
                    cursor,
                    table=models.Task._meta.db_table,
                    worker_id=worker_id,
                    backend=backend,
                    queue=queue,
                    queue_limit=queue_limit,
                    limit=limit,
                    lease_seconds=lease_seconds,
                    now=ops.adapt_datetimefield_value(now),
                    capabilities=offered,
                )
    # Both statements return the rows' CLAIM_COLUMNS, in that order.
    claimed = sorted(
        (_read(dict(zip(CLAIM_COLUMNS, row, strict=True))) for row in rows),
        key=lambda task: (-task.priority, task.run_after, task.id),
    )
    if claimed:
        logger.debug(
            "claimed %d tasks",
            len(claimed),
            extra={"action": "tasks_claimed", "worker_id": worker_id},
        )
    return claimed


# How many gates one look at the gated work reads, from the slot's cursor on.
GATES_PER_LOOK = 50


@dataclass(frozen=True, slots=True, kw_only=True)
class GatedClaim:
    """What one look at the gated work found."""

    task: ClaimedTask | None
    # The gate of the task claimed, or the last one read: where the slot's
    # next look starts, so that the gates of a task are served in turn.
    cursor: str
    # Whether any gate with work ready now was seen (claimed from or not).
    waiting: bool
    # Ready gated work waits for a rate window: the earliest instant one of
    # them may start (by the database's clock), else None.
    opens_at: datetime | None


def claim_gated(
    *,
    database: str,
    worker_id: str,
    backend: str = "default",
    queues: Sequence[str],
    excluded: Sequence[str] = (),
    capabilities: frozenset[str] = frozenset(),
    lease_seconds: float,
    now: datetime,
    after: str = "",
    queue_limits: Mapping[str, int] | None = None,
) -> GatedClaim:
    """Claim at most one ready task under a concurrency cap or a rate limit.

    Gates are read in key order from ``after`` (wrapping around), so that
    each of a task's groups gets its turn: one tenant's flood does not hold
    back another's few. A gate is claimed from only if its group has room
    at this instant, counted under a lock (``db/gates.py``). ``queues``
    empty means every queue but ``excluded`` (the paused ones); a task
    that ``requires`` capabilities is taken only if ``capabilities`` has them.
    ``queue_limits`` (the limits in force) hold for gated tasks as for
    others: a queue at its limit is not looked at.
    """
    connection = connections[database]
    vendor = connection.vendor
    dialect = dialect_for(database)
    adapted_now = connection.ops.adapt_datetimefield_value(now)
    table = models.Task._meta.db_table
    rate_table = models.RateStart._meta.db_table
    limits = {
        name: limit for name, limit in (queue_limits or {}).items() if name in queues or not queues
    }
    served = gates.without_queues(queues, excluded, _full_queues(database, backend, limits))
    if served is None:
        return GatedClaim(task=None, cursor=after, waiting=False, opens_at=None)
    queues, excluded = served
    looks = [after, ""] if after else [""]
    opens_at: datetime | None = None
    cursor_key = after
    waiting = False
    for start in looks:
        with _planned_without_jit(connection), connection.cursor() as cursor:
            found = gates.candidates(
                cursor,
                vendor=vendor,
                table=table,
                rate_table=rate_table,
                backend=backend,
                queues=queues,
                excluded=excluded,
                capabilities=capabilities,
                now=adapted_now,
                after=start,
                limit=GATES_PER_LOOK,
            )
        for candidate in found:
            cursor_key = candidate.gate_key
            waiting = waiting or candidate.ready
            if not candidate.has_room:
                opens_at = _earliest(opens_at, _window_opens(candidate))
                continue
            with transaction.atomic(using=database), connection.cursor() as cursor:
                queue_limited = (candidate.queue_name or "") in limits
                if not gates.lock(
                    cursor,
                    vendor=vendor,
                    candidate=candidate,
                    backend=backend,
                    queue_limited=queue_limited,
                ):
                    continue
                rows = gates.claim(
                    cursor,
                    vendor=vendor,
                    table=table,
                    rate_table=rate_table,
                    candidate=candidate,
                    worker_id=worker_id,
                    backend=backend,
                    queues=queues,
                    excluded=excluded,
                    capabilities=capabilities,
                    queue_limits=limits,
                    lease_sql=dialect.LEASE_UNTIL_SQL,
                    lease_offset=dialect.lease_offset(lease_seconds),
                    now=adapted_now,
                )
            if rows:
                task = _read(dict(zip(CLAIM_COLUMNS, rows[0], strict=True)), gated=True)
                logger.debug(
                    "claimed gated task %s",
                    task.id,
                    extra={"action": "tasks_claimed", "worker_id": worker_id},
                )
                return GatedClaim(task=task, cursor=candidate.gate_key, waiting=True, opens_at=None)
        if len(found) == GATES_PER_LOOK:
            break  # more gates follow: the next look goes on from the cursor
    return GatedClaim(task=None, cursor=cursor_key, waiting=waiting, opens_at=opens_at)


def _full_queues(database: str, backend: str, limits: Mapping[str, int]) -> set[str]:
    """The limited queues whose running tasks (gated or not) reach their limit now.

    A hint read without a lock, to skip them; the claim counts again under it.
    """
    if not limits:
        return set()
    running = (
        models.Task.objects.using(database)
        .filter(backend=backend, status=Status.RUNNING, queue_name__in=list(limits))
        .values("queue_name")
        .annotate(running=Count("id"))
        .values_list("queue_name", "running")
    )
    return {name for name, count in running if count >= limits[name]}


@contextlib.contextmanager
def _planned_without_jit(connection: Any) -> Iterator[None]:
    """On PostgreSQL, a transaction in which the gates' look is planned without JIT.

    The look's recursive query has a high estimated cost even over an empty
    gate index, so PostgreSQL compiled it with JIT: 40 to 80 ms of each
    look, on every slot, for a query that reads a few index pages.
    """
    if connection.vendor != "postgresql":
        yield
        return
    with transaction.atomic(using=connection.alias), connection.cursor() as cursor:
        cursor.execute("SET LOCAL jit = off")
        yield


def _window_opens(candidate: gates.Candidate) -> datetime | None:
    """When a rate-limited gate's window lets one more start (None: not rate-bound)."""
    if candidate.rate_limit is None or candidate.started < candidate.rate_limit:
        return None
    oldest = _datetime(candidate.oldest_start)
    if oldest is None or candidate.rate_seconds is None:
        return None
    return oldest + timedelta(seconds=candidate.rate_seconds)


def _earliest(first: datetime | None, second: datetime | None) -> datetime | None:
    if first is None or second is None:
        return first or second
    return min(first, second)
