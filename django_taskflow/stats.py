"""Figures about a backend's queue now: counts, the oldest ready task, throughput.

Read by ``taskflow stats``, ``health.py`` and the alerts. Each figure is
one query through an index: the oldest ready task through the claim and
gate indexes (queued rows only, a loose index scan: ``db/ready_age.py``),
throughput through ``taskflow_task_finished_idx`` (status,
finished_at), reading only the last 15 minutes of it.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db import connections, transaction
from django.db.models import Count, Q
from django.utils import timezone

from django_taskflow import models, queue_state
from django_taskflow.conf import Options
from django_taskflow.db import ready_age
from django_taskflow.states import FINISHED, Status

# Throughput windows, in minutes, as `uptime` shows load.
WINDOWS = (1, 5, 15)


@dataclass(frozen=True, slots=True, kw_only=True)
class Stats:
    """One backend's queue at one moment."""

    counts: dict[str, dict[str, int]]  # queue -> status -> tasks (zeros left out)
    oldest_ready_age: float | None  # seconds the oldest ready task has waited; None: none ready
    ready: int  # tasks ready to run now, in queues that are not paused
    finished: dict[int, int] = field(default_factory=dict)  # minutes -> tasks finished in them

    def throughput(self, minutes: int) -> float:
        """Tasks finished per second over the last ``minutes`` minutes."""
        return self.finished.get(minutes, 0) / (minutes * 60)

    @property
    def by_status(self) -> dict[str, int]:
        totals = dict.fromkeys(Status.values, 0)
        for statuses in self.counts.values():
            for status, count in statuses.items():
                totals[status] += count
        return totals


def ready_tasks(options: Options, backend: str, now: datetime) -> models.TaskQuerySet:
    """Queued tasks whose time has come, in queues an operator has not paused."""
    paused = queue_state.read(options, backend).paused
    tasks = models.Task.objects.using(options.database).filter(
        backend=backend, status=Status.QUEUED, run_after__lte=now
    )
    return tasks.exclude(queue_name__in=paused) if paused else tasks


def oldest_ready_at(
    options: Options, backend: str, now: datetime, *, queue: str | None = None
) -> datetime | None:
    """The ``run_after`` of the oldest ready task (of ``queue``, when given); None: none.

    Paused queues are left out. Read through the claim and gate indexes
    (``db/ready_age.py``), so it costs a few index probes however many
    tasks are queued.
    """
    paused = queue_state.read(options, backend).paused
    if queue is not None and queue in paused:
        return None
    connection = connections[options.database]
    # PostgreSQL needs a transaction for the query's SET LOCAL. SQLite must
    # not get one: with IMMEDIATE transactions it would take the write lock.
    in_transaction = (
        transaction.atomic(using=options.database)
        if connection.vendor == "postgresql"
        else contextlib.nullcontext()
    )
    with in_transaction, connection.cursor() as cursor:
        return ready_age.oldest_ready_run_after(
            cursor,
            table=connection.ops.quote_name(models.Task._meta.db_table),
            backend=backend,
            now=connection.ops.adapt_datetimefield_value(now),
            queue=queue,
            excluded=() if queue is not None else sorted(paused),
        )


def oldest_ready_age(
    options: Options, backend: str, now: datetime, *, queue: str | None = None
) -> float | None:
    """Seconds the oldest ready task (of ``queue``) has waited since its run_after; None: none."""
    oldest = oldest_ready_at(options, backend, now, queue=queue)
    return None if oldest is None else max(0.0, (now - oldest).total_seconds())


def count_ready(options: Options, backend: str, now: datetime, *, at_most: int) -> int:
    """How many tasks are ready now, counting no further than ``at_most``."""
    return ready_tasks(options, backend, now).order_by()[:at_most].count()


def finished_in_windows(options: Options, backend: str, now: datetime) -> dict[int, int]:
    """How many tasks finished in each of the last 1, 5 and 15 minutes."""
    since = {minutes: now - timedelta(minutes=minutes) for minutes in WINDOWS}
    found = (
        models.Task.objects.using(options.database)
        .filter(backend=backend, status__in=sorted(FINISHED), finished_at__gte=since[max(WINDOWS)])
        .aggregate(
            **{
                f"m{minutes}": Count("pk", filter=Q(finished_at__gte=moment))
                for minutes, moment in since.items()
            }
        )
    )
    return {minutes: found[f"m{minutes}"] or 0 for minutes in WINDOWS}


def collect(options: Options, backend: str, now: datetime | None = None) -> Stats:
    """Read the backend's figures (five queries; the counts read the whole table)."""
    now = now or timezone.now()
    counts: dict[str, dict[str, int]] = {}
    rows = (
        models.Task.objects.using(options.database)
        .filter(backend=backend)
        .order_by()
        .values_list("queue_name", "status")
        .annotate(n=Count("pk"))
    )
    for queue, status, count in rows:
        counts.setdefault(queue, {})[status] = count
    return Stats(
        counts=dict(sorted(counts.items())),
        oldest_ready_age=oldest_ready_age(options, backend, now),
        ready=ready_tasks(options, backend, now).count(),
        finished=finished_in_windows(options, backend, now),
    )
