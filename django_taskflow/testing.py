"""Helpers for your own tests: run queued tasks and scheduler ticks in the test's process."""

from __future__ import annotations

import threading
from collections.abc import Callable, Collection, Sequence
from datetime import datetime

from django.utils import timezone

from django_taskflow import scheduler
from django_taskflow.worker.options import WorkerOptions
from django_taskflow.worker.slot import Slot


def run_tasks(
    backend: str = "default",
    queues: Sequence[str] = (),
    now: Callable[[], datetime] | None = None,
    capabilities: Collection[str] = (),
) -> int:
    """Run every ready task in this thread, on this thread's connection.

    Returns how many attempts ran. Works inside a test transaction (the
    worker sees the test's uncommitted rows). Tasks retried with a delay are
    not waited for, and time limits are not enforced. ``now`` replaces the
    clock (to check retry times, say). ``capabilities`` are those a
    worker would offer with ``taskworker --capabilities``: tasks that
    require others stay queued. Raises ``ConfigurationError`` if
    ``backend`` is not a django_taskflow backend.
    """
    options = WorkerOptions(backend=backend, queues=tuple(queues))
    slot = Slot(
        options=options.backend_options,
        backend=backend,
        queues=options.queue_names,
        worker_id=f"test:{threading.get_ident()}",
        stop=threading.Event(),
        burst=True,
        inline=True,
        now=now or timezone.now,
        capabilities=frozenset(capabilities),
    )
    slot.run()
    return slot.processed


def run_scheduler(at: datetime, using: str = "default") -> scheduler.TickReport:
    """Run one scheduler tick as if the clock read ``at`` (an aware datetime).

    Fires the schedules due at ``at`` exactly as a worker would (window,
    catch-up and overlap included) and returns what it did: ``fired``,
    ``skipped``, ``missed``, the enqueued ``task_ids`` and ``next_due``.
    Schedules declared in code must be synced first
    (``django_taskflow.schedules.sync()``). Works inside a test transaction.
    """
    if timezone.is_naive(at):
        raise ValueError(f"run_scheduler needs an aware datetime, got {at!r}.")
    return scheduler.tick(using, at)


__all__ = ["run_scheduler", "run_tasks"]
