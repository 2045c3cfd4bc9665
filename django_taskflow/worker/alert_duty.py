"""``OPTIONS["ALERTS"]``: evaluate the alert rules, as a duty of the worker's supervisor loop.

Every worker asks, every ``check_seconds`` (half of ``EVERY``, between 1
and 30 s), for the backend's alert turn; the one that gets it evaluates
every rule (``alerts.incidents.evaluate``) and then sends what opened or
resolved (``alerts.delivery.deliver``, within one heartbeat interval), on
the supervisor's own connection. Slots claim and run tasks meanwhile, in
their own processes or threads. A burst worker never evaluates. A lost
connection is logged and tried again at the next check; the worker never
stops for it.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from datetime import datetime

from django.db import DatabaseError, connections
from django.utils import timezone

from django_taskflow.alerts import delivery, incidents
from django_taskflow.conf import Options
from django_taskflow.worker.options import WorkerOptions

logger = logging.getLogger(__name__)

MIN_CHECK_SECONDS = 1.0
MAX_CHECK_SECONDS = 30.0


class AlertDuty:
    """Evaluates the alert rules when this worker gets the turn; never raises for the database."""

    def __init__(
        self,
        *,
        options: Options,
        backend: str,
        holder: str,
        clock: Callable[[], float] = time.monotonic,
        now: Callable[[], datetime] = timezone.now,
    ) -> None:
        self.options = options
        self.backend = backend
        self.holder = holder
        self.clock = clock
        self.now = now
        self.next_run = 0.0
        every = options.alerts.every.total_seconds() if options.alerts else MAX_CHECK_SECONDS
        self.check_seconds = min(max(every / 2, MIN_CHECK_SECONDS), MAX_CHECK_SECONDS)

    @classmethod
    def for_worker(cls, options: WorkerOptions) -> AlertDuty | None:
        """The duty of a worker started with ``options``; None without rules or in burst mode."""
        backend_options = options.backend_options
        if backend_options.alerts is None or options.burst:
            return None
        return cls(
            options=backend_options, backend=options.backend, holder=options.slot_id(os.getpid())
        )

    def due_in(self) -> float:
        """Seconds until the next check (the supervisor's loop wakes for it)."""
        return max(0.0, self.next_run - self.clock())

    def run_if_due(self, *, stopping: bool = False) -> list[incidents.Notice] | None:
        """Evaluate and deliver if due and this worker gets the turn; return the notices sent."""
        if stopping or self.clock() < self.next_run:
            return None
        self.next_run = self.clock() + self.check_seconds
        try:
            notices = incidents.evaluate(
                self.options, self.backend, holder=self.holder, now=self.now()
            )
        except DatabaseError as exc:
            logger.warning(
                "alert rules could not be evaluated (%s); trying again in %.0f s",
                exc,
                self.check_seconds,
                extra={"action": "alerts_failed"},
            )
            connections[self.options.database].close()
            return None
        if notices and self.options.alerts is not None:
            # Within one heartbeat interval: this loop also keeps the worker's row alive.
            delivery.deliver(
                notices, self.options.alerts.channels, budget=self.options.heartbeat_seconds
            )
        return notices
