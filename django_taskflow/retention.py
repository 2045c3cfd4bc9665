"""Retention: delete finished tasks, with their attempts and events, in short chunks.

The ``taskflow prune`` command, :func:`operations.prune` and the workers
(``OPTIONS["RETENTION"]``, ``worker/retention_duty.py``) all prune through
:func:`prune_chunk`: one transaction that deletes at most ``chunk_size``
tasks of one status, oldest first, through the (status, finished_at)
index, and their attempts and events by their task indexes. Rows are
never loaded into Python. Queued and running tasks are never touched, so
claims and completions go on while a prune runs: on PostgreSQL they take
other rows' locks; on SQLite each chunk holds the write lock for a few
milliseconds, and :func:`prune` pauses between chunks to let workers in.

An event goes with its task: no event outlives its task's retention.

Finished flows go after the tasks, by the same cutoffs, once none of
their tasks is left (``flows/pruning.py``).

Then service events, dead service messages and services stopped or failed
before the oldest cutoff (``services/pruning.py``): a running service's
log would otherwise grow for as long as it runs.

Every prune, and every worker's turn, also deletes expired deduplication
keys (:func:`prune_dedup_keys_chunk`), whatever ``RETENTION`` says: once
expired, a key only waits to be taken over by the next enqueue of its call.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial

from django.db import connections, transaction
from django.db.models import Exists, OuterRef
from django.db.models.functions import Now
from django.utils import timezone

from django_taskflow import models, turns
from django_taskflow.db import delete_tasks, dialect_for
from django_taskflow.exceptions import InvalidQuery
from django_taskflow.flows import pruning as flow_pruning
from django_taskflow.models.dedup import DedupKeyQuerySet
from django_taskflow.services import pruning as service_pruning
from django_taskflow.states import FINISHED, Status

logger = logging.getLogger(__name__)

# Tasks per chunk when the caller gives none: the database's PRUNE_CHUNK_SIZE
# (db/*.py), 500 on PostgreSQL and 100 on SQLite, whose one writer makes
# completing workers wait for a chunk.
# How long one worker's pruning turn lasts; the next worker may take the
# next turn once it has passed (and takes over a backlog the last one left).
TURN_SECONDS = 60.0


@dataclass(frozen=True, slots=True, kw_only=True)
class PruneReport:
    """What a prune deleted (or, with ``dry_run``, would delete), by status."""

    deleted: Mapping[str, int] = field(default_factory=dict)
    flows: int = 0  # finished flows deleted (or that would be)
    dedup_keys: int = 0  # expired deduplication keys deleted (or that would be)
    services: int = 0  # services stopped or failed before the oldest cutoff
    service_events: int = 0  # service events recorded before it
    service_messages: int = 0  # dead service messages sent before it
    chunks: int = 0
    dry_run: bool = False
    complete: bool = True  # False: stopped by max_chunks or a turn's end, rows remain

    @property
    def total(self) -> int:
        return sum(self.deleted.values())


def statuses_to_prune(statuses: str | Iterable[str] | None) -> list[str]:
    """The finished statuses named (all of them for None); InvalidQuery otherwise."""
    if statuses is None:
        return sorted(FINISHED)
    values = [statuses] if isinstance(statuses, str) else list(statuses)
    wrong = [value for value in values if value not in FINISHED]
    if wrong or not values:
        raise InvalidQuery(
            f"status must be one or more of the finished statuses "
            f"({', '.join(sorted(FINISHED))}), got {', '.join(map(repr, wrong or values)) or '[]'}:"
            " queued and running tasks are never pruned."
        )
    return list(dict.fromkeys(values))


def _tables(database: str) -> dict[str, str]:
    quote = connections[database].ops.quote_name
    return {
        "task": quote(models.Task._meta.db_table),
        "attempt": quote(models.Attempt._meta.db_table),
        "event": quote(models.Event._meta.db_table),
        "schedule_run": quote(models.ScheduleRun._meta.db_table),
    }


def prune_chunk(database: str, backend: str, status: str, before: datetime, chunk_size: int) -> int:
    """Delete one chunk (one short transaction); return how many tasks went."""
    with transaction.atomic(using=database), connections[database].cursor() as cursor:
        return delete_tasks(
            cursor,
            tables=_tables(database),
            guard="status = %s AND finished_at < %s AND backend = %s",
            params=[status, before, backend],
            order_by="finished_at",
            limit=chunk_size,
        )


def _expired_dedup_keys(database: str, now: datetime) -> DedupKeyQuerySet:
    """Keys past their expiry, but not one whose task still waits in the queue.

    A debounced task's key expires at its latest start; while the task has
    not started, later calls still merge into it through the key.
    """
    waiting = models.Task.objects.using(database).filter(
        pk=OuterRef("task_id"), status=Status.QUEUED
    )
    return models.DedupKey.objects.using(database).expired(now).filter(~Exists(waiting))


def prune_dedup_keys_chunk(database: str, now: datetime, chunk_size: int) -> int:
    """Delete up to ``chunk_size`` expired deduplication keys, oldest expiry first.

    One statement: the inner select walks the expiry index and stops after
    ``chunk_size`` keys; the rows are never loaded into Python.
    """
    oldest = _expired_dedup_keys(database, now).order_by("expires_at").values("key")[:chunk_size]
    deleted, _by_model = _expired_dedup_keys(database, now).filter(key__in=oldest).delete()
    return deleted


def purge_chunk(database: str, backend: str, queue: str, chunk_size: int) -> int:
    """Delete one chunk of ``queue``'s queued tasks; a task claimed meanwhile stays."""
    with transaction.atomic(using=database), connections[database].cursor() as cursor:
        return delete_tasks(
            cursor,
            tables=_tables(database),
            guard="status = %s AND queue_name = %s AND backend = %s",
            params=[Status.QUEUED, queue, backend],
            order_by="id",
            limit=chunk_size,
        )


def purge_queue(database: str, backend: str, queue: str, *, chunk_size: int | None = None) -> int:
    """Delete every queued task of ``queue`` (with attempts and events), in chunks."""
    chunk_size = chunk_size or chunk_size_for(database)
    deleted = 0
    while True:
        count = purge_chunk(database, backend, queue, chunk_size)
        deleted += count
        if count < chunk_size:
            return deleted


@dataclass(frozen=True, slots=True)
class PruneStep:
    """One kind of row to prune in chunks: ``delete_chunk()`` deletes one, returns how many."""

    kind: str  # "tasks", "flows", "dedup_keys" or one of SERVICE_KINDS
    status: str | None
    delete_chunk: Callable[[], int]


SERVICE_KINDS = ("service_events", "service_messages", "services")


def service_cutoff(database: str, cutoffs: Mapping[str, datetime]) -> datetime | None:
    """Before when service rows go: the oldest cutoff, if ``database`` holds the services."""
    from django_taskflow.services.api import database as services_database

    if not cutoffs or services_database() != database:
        return None
    return min(cutoffs.values())


def plan(
    database: str,
    backend: str,
    cutoffs: Mapping[str, datetime],
    keys_expired_at: datetime,
    chunk_size: int,
) -> list[PruneStep]:
    """What a prune deletes, in order: tasks by status, then the flows they leave
    empty, then service rows (:func:`service_cutoff`), then the deduplication
    keys expired at ``keys_expired_at``."""
    steps = [
        PruneStep(
            "tasks", status, partial(prune_chunk, database, backend, status, before, chunk_size)
        )
        for status, before in cutoffs.items()
    ]
    steps += [
        PruneStep(
            "flows",
            status,
            partial(flow_pruning.prune_chunk, database, backend, status, before, chunk_size),
        )
        for status, before in cutoffs.items()
    ]
    services_before = service_cutoff(database, cutoffs)
    if services_before is not None:
        steps += [
            PruneStep(kind, None, partial(delete_chunk, database, services_before, chunk_size))
            for kind, delete_chunk in zip(
                SERVICE_KINDS,
                (
                    service_pruning.prune_events_chunk,
                    service_pruning.prune_dead_messages_chunk,
                    service_pruning.prune_services_chunk,
                ),
                strict=True,
            )
        ]
    steps.append(
        PruneStep(
            "dedup_keys",
            None,
            partial(prune_dedup_keys_chunk, database, keys_expired_at, chunk_size),
        )
    )
    return steps


def chunk_size_for(database: str) -> int:
    """Tasks per chunk on this database when the caller gives none."""
    size: int = dialect_for(database).PRUNE_CHUNK_SIZE
    return size


def pause_ratio_for(database: str) -> float:
    """How long to pause after a chunk, as a share of its time, on this database."""
    ratio: float = dialect_for(database).PRUNE_PAUSE_RATIO
    return ratio


def count_prunable(database: str, backend: str, cutoffs: Mapping[str, datetime]) -> dict[str, int]:
    """How many tasks of each status finished before its cutoff (``dry_run``)."""
    tasks = models.Task.objects.using(database).filter(backend=backend)
    return {
        status: tasks.filter(status=status, finished_at__lt=before).count()
        for status, before in cutoffs.items()
    }


def prune_statuses(
    database: str,
    backend: str,
    cutoffs: Mapping[str, datetime],
    *,
    chunk_size: int | None = None,
    pause_ratio: float | None = None,
    dry_run: bool = False,
    max_chunks: int | None = None,
    keep_going: Callable[[], bool] = lambda: True,
    sleep: Callable[[float], None] = time.sleep,
    now: datetime | None = None,
) -> PruneReport:
    """Prune each status up to its cutoff, chunk after chunk, pausing between them.

    Then the finished flows left without tasks, by the same cutoffs, the
    service rows older than the oldest cutoff, and the deduplication keys expired at ``now`` (default: the current time),
    in chunks of the same size (:func:`plan`).

    After each chunk it pauses ``pause_ratio`` times as long as the chunk
    took (default: the database's ``PRUNE_PAUSE_RATIO``, 9 on SQLite and
    0.25 on PostgreSQL), so that workers keep the database most of the time.

    Stops after ``max_chunks`` chunks or when ``keep_going()`` turns false
    (a worker's turn ended); the report says whether rows remain.
    """
    if chunk_size is None:
        chunk_size = chunk_size_for(database)
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size < 1:
        raise InvalidQuery(f"chunk_size must be a whole number of at least 1, got {chunk_size!r}.")
    now = now or timezone.now()
    if dry_run:
        services_before = service_cutoff(database, cutoffs)
        counted = (
            service_pruning.count_prunable(database, services_before)
            if services_before is not None
            else {}
        )
        return PruneReport(
            deleted=count_prunable(database, backend, cutoffs),
            flows=flow_pruning.count_prunable(database, backend, cutoffs),
            dedup_keys=_expired_dedup_keys(database, now).count(),
            services=counted.get("services", 0),
            service_events=counted.get("service_events", 0),
            service_messages=counted.get("service_messages", 0),
            dry_run=True,
        )
    if pause_ratio is None:
        pause_ratio = pause_ratio_for(database)
    deleted = dict.fromkeys(cutoffs, 0)
    totals: Counter[str] = Counter()  # chunks, and rows of each kind

    def report(*, complete: bool) -> PruneReport:
        return PruneReport(
            deleted=deleted,
            flows=totals["flows"],
            dedup_keys=totals["dedup_keys"],
            services=totals["services"],
            service_events=totals["service_events"],
            service_messages=totals["service_messages"],
            chunks=totals["chunks"],
            complete=complete,
        )

    for step in plan(database, backend, cutoffs, now, chunk_size):
        while True:
            if (max_chunks is not None and totals["chunks"] >= max_chunks) or not keep_going():
                return report(complete=False)
            started = time.monotonic()
            count = step.delete_chunk()
            totals.update({"chunks": 1, step.kind: count})
            if step.kind == "tasks" and step.status is not None:
                deleted[step.status] += count
            if count < chunk_size:
                break
            sleep((time.monotonic() - started) * pause_ratio)
    done = report(complete=True)
    logger.info(
        "pruned %d finished tasks (%s), %d finished flows, %d expired deduplication keys, "
        "%d ended services, %d service events and %d dead service messages",
        done.total,
        ", ".join(f"{status}: {count}" for status, count in done.deleted.items()),
        done.flows,
        done.dedup_keys,
        done.services,
        done.service_events,
        done.service_messages,
        extra={"action": "tasks_pruned", "backend": backend},
    )
    return done


def prune(
    older_than: timedelta,
    *,
    status: str | Iterable[str] | None = None,
    backend: str = "default",
    chunk_size: int | None = None,
    dry_run: bool = False,
    now: datetime | None = None,
) -> PruneReport:
    """Delete tasks of ``status`` (all finished ones by default) finished over ``older_than`` ago.

    Their attempts and events go with them. Runs in chunks of
    ``chunk_size`` tasks, each its own short transaction: call it outside
    ``transaction.atomic()``. With ``dry_run``, counts and deletes nothing.
    Raises :class:`InvalidQuery` for a status that is not a finished one
    or a bad ``older_than``.
    """
    from django_taskflow.queries import database_for

    if not isinstance(older_than, timedelta) or older_than <= timedelta(0):
        raise InvalidQuery(f"older_than must be a positive timedelta, got {older_than!r}.")
    before = (now or timezone.now()) - older_than
    cutoffs = dict.fromkeys(statuses_to_prune(status), before)
    return prune_statuses(
        database_for(backend), backend, cutoffs, chunk_size=chunk_size, dry_run=dry_run, now=now
    )


def retention_cutoffs(retention: Mapping[str, timedelta], now: datetime) -> dict[str, datetime]:
    """Each status of ``OPTIONS["RETENTION"]`` with the moment before which its tasks go."""
    return {status: now - keep for status, keep in sorted(retention.items())}


# -- a worker's turn ---------------------------------------------------------------


def take_turn(database: str, backend: str, holder: str, seconds: float = TURN_SECONDS) -> bool:
    """Take the backend's pruning turn for ``seconds`` if it is free; True if taken."""
    return turns.take_turn(models.PruneTurn, database, backend, holder, seconds)


def record_turn(database: str, backend: str, holder: str, deleted: int) -> None:
    """Note when ``holder``'s turn pruned last and how much (shown by ``taskflow stats``)."""
    models.PruneTurn.objects.using(database).filter(backend=backend, holder=holder[:100]).update(
        last_pruned_at=Now(), last_deleted=deleted
    )
