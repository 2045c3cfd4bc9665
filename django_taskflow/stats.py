"""Figures about a backend's queue now: counts, the oldest ready task, throughput.

Read by ``taskflow stats`` and by ``health.py``. Each figure is one query
through an index: the oldest ready task through the claim index (queued
rows only), throughput through ``taskflow_task_finished_idx`` (status,
finished_at), reading only the last 15 minutes of it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db.models import Count, Min, Q
from django.utils import timezone

from django_taskflow import models, queue_state
from django_taskflow.conf import Options
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


def oldest_ready(options: Options, backend: str, now: datetime) -> tuple[float | None, int]:
    """(seconds the oldest ready task has waited since its run_after, tasks ready)."""
    found = ready_tasks(options, backend, now).aggregate(oldest=Min("run_after"), ready=Count("pk"))
    oldest = found["oldest"]
    age = None if oldest is None else max(0.0, (now - oldest).total_seconds())
    return age, found["ready"]


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
    """Read the backend's figures (four queries)."""
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
    age, ready = oldest_ready(options, backend, now)
    return Stats(
        counts=dict(sorted(counts.items())),
        oldest_ready_age=age,
        ready=ready,
        finished=finished_in_windows(options, backend, now),
    )
