"""Stuck tasks: running by their row, but nobody is running them.

A worker that dies mid-run leaves its tasks ``running`` with a lease
nobody renews; the workers' own lease recovery (``recovery.recover_expired``)
puts them back, but only while some worker runs. A task whose lease
expired more than ``STUCK_AFTER_LEASES`` leases ago shows that nobody
did: the admin lists it, and "recover now" ends its attempt as lost, as a
worker would have (requeued, or failed if ``on_lost="fail"`` or it was lost
too often).
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime, timedelta

from django.db.models import QuerySet
from django.db.models.functions import Now
from django.tasks import task_backends
from django.utils import timezone

from django_taskflow import models, recovery
from django_taskflow.rerun import NOT_FOUND, Report
from django_taskflow.states import AttemptOutcome, Status
from django_taskflow.worker_status import alive_slot_ids

logger = logging.getLogger(__name__)

# A lease expired this many times its length ago: no worker is recovering it.
STUCK_AFTER_LEASES = 3


def stuck(
    tasks: QuerySet[models.Task], *, lease_seconds: float, now: datetime | None = None
) -> QuerySet[models.Task]:
    """The running tasks among ``tasks`` whose lease expired long ago (read through the lease index)."""
    cutoff = (now or timezone.now()) - timedelta(seconds=STUCK_AFTER_LEASES * lease_seconds)
    return _without_live_worker(
        tasks.filter(status=Status.RUNNING, lease_expires_at__lt=cutoff), now=now
    )


def lease_seconds(backend: str) -> float:
    """``OPTIONS["LEASE_SECONDS"]`` of ``backend`` (the default for another backend)."""
    from django_taskflow.backend import TaskflowBackend

    instance = task_backends[backend]
    return instance.config.lease_seconds if isinstance(instance, TaskflowBackend) else 30.0


def _without_live_worker(
    tasks: QuerySet[models.Task], *, now: datetime | None
) -> QuerySet[models.Task]:
    """Leave out tasks whose worker still heartbeats (its ``WorkerProcess`` row is alive).

    A worker of an older version writes no row: then the long-expired lease
    alone is the sign.
    """
    return tasks.exclude(worker_id__in=alive_slot_ids(using=tasks.db, now=now))


def recover(database: str, ids: list[uuid.UUID], *, by: str, lease_seconds: float) -> Report:
    """End the lost attempt of each stuck task among ``ids``, as a worker's recovery would."""
    now = timezone.now()
    candidates = stuck(
        models.Task.objects.using(database).filter(pk__in=ids),
        lease_seconds=lease_seconds,
        now=now,
    )
    report = Report()
    seen = 0
    for task in candidates:
        seen += 1
        won = recovery.end_attempt_abruptly(
            database,
            task,
            outcome=AttemptOutcome.LOST,
            now=now,
            message=f"recovered by {by or 'an operator'}: no worker held it",
            expired_before=Now(),
        )
        if won:
            report.changed += 1
        else:
            report.refused["it changed meanwhile"] += 1
    found = models.Task.objects.using(database).filter(pk__in=ids).count()
    if found > seen:
        report.refused["it is not stuck: not running, or its lease is recent"] += found - seen
    if len(ids) > found:
        report.refused[NOT_FOUND] += len(ids) - found
    return report
