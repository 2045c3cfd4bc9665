"""The duties the supervisor runs from its watch loop, between looks at its slots.

Each duty is an object with ``due_in()`` (seconds until it wants to run,
so that the loop wakes for it) and ``run_if_due()``. A duty handles its own
lost connections; anything else it raises is a bug, and a worker that
silently stopped doing a duty is worse than one that stops: the duty is
dropped, the worker drains, and its exit code says it failed.

No thread: the supervisor forks slots, and forking a process with more
than one thread can deadlock the child. To add a duty, write its factory
and name it in ``DUTY_FACTORIES``.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from typing import Protocol

from django_taskflow.worker.alert_duty import AlertDuty
from django_taskflow.worker.options import WorkerOptions
from django_taskflow.worker.retention_duty import RetentionDuty
from django_taskflow.worker.scheduler_duty import SchedulerDuty

# The supervisor's logger, as before these parts had modules of their own:
# operators' logging configuration names it.
logger = logging.getLogger("django_taskflow.worker.supervisor")


class Duty(Protocol):
    def due_in(self) -> float: ...

    def run_if_due(self) -> object: ...


def scheduler_duty(options: WorkerOptions) -> Duty | None:
    """Fire due schedules, on the supervisor's own connection."""
    if not options.scheduler:
        return None
    return SchedulerDuty(options.backend_options.database)


def retention_duty(options: WorkerOptions) -> Duty | None:
    """Prune by OPTIONS["RETENTION"], and expired deduplication keys, when this worker holds the turn."""
    backend_options = options.backend_options
    if options.burst:
        return None
    return RetentionDuty(
        database=backend_options.database,
        backend=options.backend,
        retention_by_status=backend_options.retention,
        holder=options.slot_id(os.getpid()),
    )


def alert_duty(options: WorkerOptions) -> Duty | None:
    """Evaluate OPTIONS["ALERTS"] when this worker holds the alert turn."""
    return AlertDuty.for_worker(options)


# Each factory returns its duty, or None when this worker does not run it.
# They run in this order at each pass of the watch loop.
DUTY_FACTORIES: tuple[tuple[str, Callable[[WorkerOptions], Duty | None]], ...] = (
    ("scheduler", scheduler_duty),
    ("retention", retention_duty),
    ("alerts", alert_duty),
)


class Duties:
    """The duties this worker runs; a fault in one calls ``on_fault`` (which drains)."""

    def __init__(self, options: WorkerOptions, *, on_fault: Callable[[], None]) -> None:
        self.active: dict[str, Duty] = {}
        for name, factory in DUTY_FACTORIES:
            duty = factory(options)
            if duty is not None:
                self.active[name] = duty
        self.on_fault = on_fault

    def due_in(self, seconds: float) -> float:
        """``seconds``, or less if a duty is due sooner."""
        return min([seconds, *(duty.due_in() for duty in self.active.values())])

    def run_due(self) -> None:
        """Run each duty that is due; drop one that fails and call ``on_fault``."""
        for name, duty in list(self.active.items()):
            try:
                duty.run_if_due()
            except Exception:
                logger.exception(
                    "the %s failed; the worker stops", name, extra={"action": f"{name}_died"}
                )
                del self.active[name]
                self.on_fault()
