"""Read-only questions about running workers: which are alive, and who holds a task.

Workers keep their own rows (``models.WorkerProcess``, one per
``taskworker``, and a ``WorkerSlot`` per slot); see ``worker/presence.py``.
A worker is alive while its ``alive_until`` is in the future: each
heartbeat moves it ``GONE_AFTER_HEARTBEATS`` heartbeat intervals ahead, so
a worker killed without a goodbye reads as gone that long after its last
heartbeat. Times are the database's clock, as for leases. Every question
here is one indexed query. Stuck-row detection,
health, metrics and ``manage.py taskflow workers`` call these.
"""

from __future__ import annotations

from datetime import datetime

from django.db import DEFAULT_DB_ALIAS
from django.db.models import BooleanField, ExpressionWrapper, Q, QuerySet
from django.db.models.functions import Now

from django_taskflow import models

__all__ = [
    "alive_condition",
    "alive_slot_ids",
    "every_worker",
    "gone_workers",
    "is_alive",
    "with_alive",
    "worker_for",
    "workers_alive",
]


def _cutoff(now: datetime | None) -> datetime | Now:
    # The database's clock, which the workers' heartbeats use too.
    return Now() if now is None else now


def workers_alive(
    *, using: str = DEFAULT_DB_ALIAS, now: datetime | None = None
) -> QuerySet[models.WorkerProcess]:
    """The workers whose heartbeat has not lapsed, with their slots prefetched."""
    return (
        models.WorkerProcess.objects.using(using)
        .filter(alive_condition(now))
        .prefetch_related("slots")
    )


def every_worker(
    *, using: str = DEFAULT_DB_ALIAS, backend: str | None = None, now: datetime | None = None
) -> QuerySet[models.WorkerProcess]:
    """Every worker row, alive or gone, with ``alive`` (a bool) annotated and slots prefetched.

    ``alive`` is read with the database's clock, as the heartbeats
    are written; ``backend`` keeps the workers serving that TASKS alias.
    """
    workers = models.WorkerProcess.objects.using(using)
    if backend is not None:
        workers = workers.filter(backend=backend)
    return with_alive(workers, now=now)


def alive_condition(now: datetime | None = None) -> Q:
    """The filter of workers whose heartbeat has not lapsed (``now``: the database's clock)."""
    return Q(alive_until__gt=_cutoff(now))


def with_alive(
    workers: QuerySet[models.WorkerProcess], *, now: datetime | None = None
) -> QuerySet[models.WorkerProcess]:
    """``workers`` with ``alive`` (a bool) annotated and their slots prefetched."""
    alive = ExpressionWrapper(alive_condition(now), output_field=BooleanField())
    return workers.annotate(alive=alive).prefetch_related("slots")


def gone_workers(
    *, using: str = DEFAULT_DB_ALIAS, now: datetime | None = None
) -> QuerySet[models.WorkerProcess]:
    """The rows of workers that stopped heartbeating (killed, or their host lost)."""
    return models.WorkerProcess.objects.using(using).filter(alive_until__lte=_cutoff(now))


def worker_for(worker_id: str, *, using: str = DEFAULT_DB_ALIAS) -> models.WorkerProcess | None:
    """The worker that a task's ``worker_id`` (a slot's id) belongs to, alive or gone.

    A supervisor's own id (``host:pid``) finds its row too. ``None`` when no
    row has it: the worker stopped cleanly, its row was swept, or it ran
    before worker rows existed.
    """
    slot = (
        models.WorkerSlot.objects.using(using)
        .select_related("process")
        .filter(worker_id=worker_id)
        .first()
    )
    if slot is not None:
        return slot.process
    return models.WorkerProcess.objects.using(using).filter(worker_id=worker_id).first()


def is_alive(worker_id: str, *, using: str = DEFAULT_DB_ALIAS, now: datetime | None = None) -> bool:
    """Whether the slot (or supervisor) with this id belongs to a live worker."""
    cutoff = _cutoff(now)
    return (
        models.WorkerSlot.objects.using(using)
        .filter(worker_id=worker_id, process__alive_until__gt=cutoff)
        .exists()
        or models.WorkerProcess.objects.using(using)
        .filter(worker_id=worker_id, alive_until__gt=cutoff)
        .exists()
    )


def alive_slot_ids(
    *, using: str = DEFAULT_DB_ALIAS, now: datetime | None = None
) -> QuerySet[models.WorkerSlot, str]:
    """The slot ids of live workers, as a subquery.

    For example, the running tasks no live worker holds::

        Task.objects.filter(status="running").exclude(worker_id__in=alive_slot_ids())
    """
    return (
        models.WorkerSlot.objects.using(using)
        .filter(process__alive_until__gt=_cutoff(now))
        .values_list("worker_id", flat=True)
    )
