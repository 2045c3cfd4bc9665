"""The scheduler as a duty of the worker's supervisor loop.

The supervisor wakes at least every ``WATCH_SECONDS`` to watch its slots;
when a tick is due it runs :func:`scheduler.tick` on its own connection
and learns when the next schedule is due, so it can wake for it. Tasks
run in the slots, never here, so a tick cannot slow them down. A tick runs
at least once a second, so that edits in the admin apply by the next
tick, and at a schedule's due time when that comes sooner.

No thread: the supervisor forks slots, and forking a process with more
than one thread can deadlock the child. A lost database connection is
logged, the connection closed, and the next tick comes after a pause that
doubles up to ``RECONNECT_MAX_SECONDS``; the worker never stops for it.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from datetime import datetime

from django.db import DatabaseError, connections
from django.utils import timezone

from django_taskflow import scheduler
from django_taskflow.worker.reconnect import RECONNECT_MAX_SECONDS, RECONNECT_MIN_SECONDS

logger = logging.getLogger(__name__)

# The longest time between ticks: edits apply by the next one.
TICK_SECONDS = 1.0
# The shortest: a row that stays due (an edit racing the tick) is not polled
# in a busy loop.
MIN_TICK_SECONDS = 0.02


class SchedulerDuty:
    """Runs scheduler ticks when due; never raises out of ``run_if_due``."""

    def __init__(
        self,
        database: str,
        *,
        clock: Callable[[], float] = time.monotonic,
        now: Callable[[], datetime] = timezone.now,
    ) -> None:
        self.database = database
        self.clock = clock
        self.now = now
        self.next_tick = 0.0
        self.delay = RECONNECT_MIN_SECONDS
        self.failing = False

    def due_in(self) -> float:
        """Seconds until the next tick is due (0 when due now)."""
        return max(0.0, self.next_tick - self.clock())

    def run_if_due(self) -> scheduler.TickReport | None:
        """Run one tick if it is due; return its report, or None."""
        if self.clock() < self.next_tick:
            return None
        try:
            report = scheduler.tick(self.database, self.now())
        except DatabaseError as exc:
            self._lost(exc)
            return None
        if self.failing:
            logger.info(
                "scheduler reached the database again", extra={"action": "scheduler_reconnected"}
            )
        self.failing = False
        self.delay = RECONNECT_MIN_SECONDS
        wait = TICK_SECONDS
        if report.next_due is not None:
            until_due = (report.next_due - self.now()).total_seconds()
            wait = min(wait, max(until_due, MIN_TICK_SECONDS))
        self.next_tick = self.clock() + wait
        return report

    def _lost(self, exc: DatabaseError) -> None:
        logger.warning(
            "scheduler tick failed (%s); retrying in %.1f s",
            exc,
            self.delay,
            extra={"action": "scheduler_tick_failed"},
        )
        self.failing = True
        connections[self.database].close()
        pause = self.delay * random.uniform(0.5, 1.5)  # noqa: S311 (jitter)
        self.next_tick = self.clock() + pause
        self.delay = min(self.delay * 2, RECONNECT_MAX_SECONDS)
