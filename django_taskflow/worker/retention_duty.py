"""Pruning by ``OPTIONS["RETENTION"]``, as a duty of the worker's supervisor loop.

Every worker tries, every ``CHECK_SECONDS``, to take the backend's pruning
turn (``retention.take_turn``: one guarded UPDATE, so one worker at a
time). The worker holding the turn deletes one chunk per pass of its
supervisor loop, pausing after it as ``retention.prune_statuses`` does, until nothing is left
or its turn ends, in the order of ``retention.plan``: the finished tasks by
``RETENTION``, the finished flows they leave without tasks, then the expired
deduplication keys, which go even without ``RETENTION``. Slots claim and run tasks meanwhile, on their own
connections: pruning never runs on the hot path. Like the scheduler, a
lost connection is logged and retried later; the worker never stops for it.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta

from django.db import DatabaseError, connections
from django.utils import timezone

from django_taskflow import retention

logger = logging.getLogger(__name__)

# How often an idle worker asks for the turn.
CHECK_SECONDS = 30.0
# Stop this long before the turn ends, so that two workers never overlap.
TURN_MARGIN_SECONDS = 5.0


class RetentionDuty:
    """Prunes in chunks while this worker holds the turn; never raises out of ``run_if_due``."""

    def __init__(
        self,
        *,
        database: str,
        backend: str,
        retention_by_status: Mapping[str, timedelta],
        holder: str,
        chunk_size: int | None = None,
        clock: Callable[[], float] = time.monotonic,
        now: Callable[[], datetime] = timezone.now,
    ) -> None:
        self.database = database
        self.backend = backend
        self.retention = retention_by_status
        self.holder = holder
        self.chunk_size = chunk_size or retention.chunk_size_for(database)
        self.clock = clock
        self.now = now
        self.next_run = 0.0
        self.turn_ends: float | None = None
        self.remaining: list[retention.PruneStep] = []
        self.deleted: Counter[str] = Counter()  # rows of each kind this turn

    def due_in(self) -> float:
        """Seconds until the duty wants to run again (0 when due now)."""
        return max(0.0, self.next_run - self.clock())

    def run_if_due(self) -> int | None:
        """Take the turn or prune one chunk if due; return the tasks deleted, or None.

        Flows and expired deduplication keys deleted are not counted in it.
        """
        if self.clock() < self.next_run:
            return None
        try:
            return self._run()
        except DatabaseError as exc:
            logger.warning(
                "pruning failed (%s); trying again in %.0f s",
                exc,
                CHECK_SECONDS,
                extra={"action": "prune_failed"},
            )
            connections[self.database].close()
            self.turn_ends = None
            self.next_run = self.clock() + CHECK_SECONDS
            return None

    def _run(self) -> int | None:
        if self.turn_ends is None:
            if not retention.take_turn(self.database, self.backend, self.holder):
                self.next_run = self.clock() + CHECK_SECONDS
                return None
            self.turn_ends = self.clock() + retention.TURN_SECONDS - TURN_MARGIN_SECONDS
            now = self.now()
            cutoffs = retention.retention_cutoffs(self.retention, now)
            self.remaining = retention.plan(
                self.database, self.backend, cutoffs, now, self.chunk_size
            )
            self.deleted = Counter()
        started = self.clock()
        tasks = 0
        # Chunk by chunk: a full one ends the pass, a short one finishes its step.
        while self.remaining:
            step = self.remaining[0]
            count = step.delete_chunk()
            self.deleted[step.kind] += count
            tasks += count if step.kind == "tasks" else 0
            if count == self.chunk_size:
                break
            self.remaining.pop(0)
        finished = self.clock()
        if not self.remaining or finished >= self.turn_ends:
            self._end_turn()
        else:
            self.next_run = finished + (finished - started) * retention.pause_ratio_for(
                self.database
            )
        return tasks

    def _end_turn(self) -> None:
        retention.record_turn(self.database, self.backend, self.holder, self.deleted["tasks"])
        if self.deleted.total():
            logger.info(
                "pruned %d finished tasks past their retention, %d finished flows, "
                "%d expired deduplication keys, %d ended services, %d service events "
                "and %d dead service messages",
                self.deleted["tasks"],
                self.deleted["flows"],
                self.deleted["dedup_keys"],
                self.deleted["services"],
                self.deleted["service_events"],
                self.deleted["service_messages"],
                extra={"action": "tasks_pruned", "backend": self.backend},
            )
        self.turn_ends = None
        self.remaining = []
        self.next_run = self.clock() + CHECK_SECONDS
