"""The tasks a slot has claimed but not started: claim, check, hand back.

**Adaptive prefetch.** The slot keeps an exponentially weighted average of
how long its tasks take and claims ``min(BATCH_SIZE, PREFETCH_SECONDS /
average)`` tasks at a time, at least one: many short tasks come in
batches, and a long task is never held in a busy slot's queue while
another worker sits idle.

**Gated tasks** (under a concurrency cap or a rate limit) are claimed one
at a time and only to start at once: a prefetched one would hold its
group's slot, or its window's start, while it waited. The slot looks for
them when it has nothing else to do, and at most every
``GATED_LOOK_SECONDS`` (``poll_interval`` while there are none) while
other work keeps it busy, so that tasks without limits pay nothing for
the look.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Protocol

from django.db import InterfaceError, OperationalError, connections

from django_taskflow import models, recovery
from django_taskflow.claim import ClaimedTask, claim_batch, claim_gated
from django_taskflow.conf import Options
from django_taskflow.queues import Lane
from django_taskflow.states import OnLost, Status
from django_taskflow.worker.marks import RunningMarks
from django_taskflow.worker.queue_control import QueueControl
from django_taskflow.worker.reconnect import Reconnect

logger = logging.getLogger(__name__)

CONNECTION_ERRORS = (OperationalError, InterfaceError)
# Claim enough tasks to keep the slot busy this long.
PREFETCH_SECONDS = 0.05
# While gated work waits for room, a busy slot looks at it this often.
GATED_LOOK_SECONDS = 0.25


class Outcomes(Protocol):
    """The slot's recorder, as far as the gated claim asks it (``Recorder``)."""

    @property
    def all_recorded(self) -> bool: ...

    def wait_until_recorded(self, timeout: float | None = None) -> bool: ...


class Prefetch:
    """Claims for one slot (on its main thread) and holds what waits to start."""

    def __init__(
        self,
        *,
        options: Options,
        backend: str,
        queues: tuple[str, ...],
        worker_id: str,
        now: Callable[[], datetime],
        marks: RunningMarks,
        capabilities: frozenset[str] = frozenset(),
        outcomes: Outcomes | None = None,
    ) -> None:
        self.options = options
        self.outcomes = outcomes
        self.database = options.database
        self.backend = backend
        self.queues = queues
        self.worker_id = worker_id
        self.now = now
        self.marks = marks
        self.capabilities = capabilities
        self.control = QueueControl(options=options, backend=backend, queues=queues)
        self.tasks: deque[ClaimedTask] = deque()
        self.lock = threading.Lock()
        self.claimed_at = 0.0
        self.average_seconds: float | None = None
        # A claim or hand-back failed with its outcome unknown: this worker id
        # may hold tasks the slot does not know of (see ``hand_back_strays``).
        self.may_hold_strays = False
        self.reconnect = Reconnect(
            database=self.database, worker_id=worker_id, max_delay=options.heartbeat_seconds
        )
        # Gated work: where the next look starts (each gate gets its turn),
        # when it is due, and when a rate window lets waiting work start.
        self.gate_cursor = ""
        self.next_gated_look = 0.0
        self.gated_opens_at: datetime | None = None
        # A gated task was handed out to start: until its outcome is written,
        # its group still counts it as running.
        self.gated_started = False

    def __bool__(self) -> bool:
        return bool(self.tasks)

    def claim(self) -> bool:
        """Claim a batch of ready tasks; say if there were any.

        The queue control chooses the queue (by weight, skipping paused
        ones) and applies queue limits; see ``worker/queue_control.py``.
        """
        self._drop_broken_connection()
        try:
            self.follow_queue_states()
            # Not while this slot's own gated outcome is unwritten: its group
            # would look full. Other work goes first meanwhile.
            looked = time.monotonic() >= self.next_gated_look and not self._gated_unwritten()
            gated = self._claim_gated() if looked else None
            claimed = self.control.claim(self._batch_size(), self._claim_from)
            if not claimed and not looked:
                if self._gated_unwritten() and self.outcomes is not None:
                    self.outcomes.wait_until_recorded(timeout=self.options.heartbeat_seconds)
                gated = self._claim_gated()
        except CONNECTION_ERRORS as exc:
            # It may have committed before the connection broke.
            self.may_hold_strays = True
            self.reconnect.lost("claim", exc)
            return False
        self.reconnect.succeeded()
        # A gated task comes first: it was claimed to start at once.
        claimed = self._start_at_once_only([gated, *claimed] if gated else claimed)
        with self.lock:
            self.tasks.extend(claimed)
            self.claimed_at = time.monotonic()
        return bool(claimed)

    def follow_queue_states(self) -> None:
        """Re-read the queue states if they are old; hand back what a pause now holds.

        Called before each claim and before each start, so no task of a
        queue paused more than ``STATE_REFRESH_SECONDS`` ago starts here.
        """
        newly_paused = self.control.refresh()
        if newly_paused:
            self._hand_back_queues(newly_paused)

    def _claim_from(self, lane: Lane, limit: int) -> list[ClaimedTask]:
        return claim_batch(
            database=self.database,
            worker_id=self.worker_id,
            backend=self.backend,
            queues=lane.queues,
            excluded=lane.excluded,
            queue_limit=lane.limit,
            capabilities=self.capabilities,
            limit=limit,
            lease_seconds=self.options.lease_seconds,
            now=self.now(),
        )

    def _hand_back_queues(self, queues: frozenset[str]) -> None:
        """Return the unstarted tasks of ``queues`` (just paused): they stay queued."""
        with self.lock:
            returned = [task.id for task in self.tasks if task.queue_name in queues]
            if not returned:
                return
            self.tasks = deque(task for task in self.tasks if task.queue_name not in queues)
        try:
            recovery.hand_back(self.database, self.worker_id, returned)
        except CONNECTION_ERRORS:
            self.may_hold_strays = True  # handed back with the strays, once idle
            raise
        self.marks.committed(returned)

    def _gated_unwritten(self) -> bool:
        if self.gated_started and (self.outcomes is None or self.outcomes.all_recorded):
            self.gated_started = False
        return self.gated_started

    def _claim_gated(self) -> ClaimedTask | None:
        """Claim one gated task that can start now, if any; plan the next look."""
        served = self.control.served()
        if served is None:
            return None  # every queue it serves is paused
        queues, excluded = served
        found = claim_gated(
            database=self.database,
            worker_id=self.worker_id,
            backend=self.backend,
            queues=queues,
            excluded=excluded,
            capabilities=self.capabilities,
            lease_seconds=self.options.lease_seconds,
            now=self.now(),
            after=self.gate_cursor,
            queue_limits=self.control.states.limits,
        )
        self.gate_cursor = found.cursor
        self.gated_opens_at = found.opens_at
        if found.task is not None:
            self.next_gated_look = 0.0  # its group may have more: look again next time
        else:
            # A full group frees when a running task's outcome is written, and
            # the slot that ran it looks again at once; others look now and then.
            pause = GATED_LOOK_SECONDS if found.waiting else self.options.poll_interval
            self.next_gated_look = time.monotonic() + pause
        return found.task

    def idle_seconds(self, poll_interval: float) -> float:
        """How long an idle slot may wait for a wake-up.

        Less while a pause or a queue limit holds work back (see
        ``QueueControl.wait_seconds``), or if a rate window opens sooner.
        """
        poll_interval = self.control.wait_seconds(poll_interval)
        opens_at = self.gated_opens_at
        if opens_at is None:
            return poll_interval
        until = (opens_at - datetime.now(UTC)).total_seconds()
        return min(poll_interval, max(until, 0.01))

    def _start_at_once_only(self, claimed: list[ClaimedTask]) -> list[ClaimedTask]:
        """Keep an ``on_lost="fail"`` or gated task only if it is the one the slot starts next.

        Claims happen when nothing waits, so the first task starts at once.
        A prefetched task has not started, but if this whole host died,
        recovery by lease expiry could not tell, and would fail it unrun.
        A prefetched gated task would hold its group's slot while it waited.
        """
        kept = claimed[:1] + [
            task for task in claimed[1:] if task.on_lost != OnLost.FAIL and not task.gated
        ]
        if len(kept) < len(claimed):
            kept_ids = {task.id for task in kept}
            returned = [task.id for task in claimed if task.id not in kept_ids]
            try:
                recovery.hand_back(self.database, self.worker_id, returned)
            except CONNECTION_ERRORS as exc:
                # Perhaps handed back, perhaps not: never run them here (they
                # could run twice), but hand back whatever is still held.
                self.may_hold_strays = True
                self.reconnect.lost("hand-back", exc)
        return kept

    def take(self) -> ClaimedTask | None:
        """The next task to start, if there is one and this slot still holds it.

        A task whose lease cannot be checked (the connection broke) stays at
        the head of the queue: the check is tried again after the reconnect
        pause, or the task is handed back if the slot stops meanwhile.
        """
        if self.tasks:
            try:
                self.follow_queue_states()
            except CONNECTION_ERRORS as exc:
                self.reconnect.lost("queue states", exc)
                return None
        with self.lock:
            if not self.tasks:
                return None
            task = self.tasks.popleft()
        try:
            held = self._still_held(task)
        except CONNECTION_ERRORS as exc:
            with self.lock:
                self.tasks.appendleft(task)
            self.reconnect.lost("lease check", exc)
            return None
        if held and task.gated:
            self.gated_started = True
        return task if held else None

    def took(self, seconds: float) -> None:
        """A task took ``seconds`` to run: adjust the size of the next claims."""
        average = self.average_seconds
        self.average_seconds = seconds if average is None else 0.8 * average + 0.2 * seconds

    def hand_back(self) -> None:
        """Return every unstarted task to the queue, uncounted (from any thread)."""
        with self.lock:
            unstarted = [task.id for task in self.tasks]
            self.tasks.clear()
        if unstarted:
            recovery.hand_back(self.database, self.worker_id, unstarted)
            self.marks.committed(unstarted)

    def hand_back_strays(self) -> None:
        """Hand back the tasks this worker id holds but the slot does not know of.

        After a claim whose reply was lost, its tasks are ``running`` for this
        worker id, and the lease keeper would renew them for ever. Call it
        only when the slot holds nothing: no prefetched task, none running,
        every outcome written, so that every task still held is a stray.
        """
        try:
            strays = list(
                models.Task.objects.using(self.database)
                .filter(status=Status.RUNNING, worker_id=self.worker_id)
                .values_list("pk", flat=True)
            )
            recovery.hand_back(self.database, self.worker_id, strays)
        except CONNECTION_ERRORS as exc:
            self.reconnect.lost("hand-back", exc)
            return
        self.may_hold_strays = False

    def _batch_size(self) -> int:
        if self.average_seconds is None:
            return 1
        wanted = int(PREFETCH_SECONDS / max(self.average_seconds, 1e-6))
        return max(1, min(self.options.batch_size, wanted))

    def _still_held(self, task: ClaimedTask) -> bool:
        """Before starting a task that waited behind a long one, confirm its lease.

        If heartbeats failed meanwhile, another worker may have recovered it:
        starting it here would run it twice.
        """
        if time.monotonic() - self.claimed_at < self.options.heartbeat_seconds:
            return True
        if recovery.extend_lease(
            self.database, self.worker_id, task.id, self.options.lease_seconds
        ):
            return True
        logger.warning(
            "skipped task %s: its lease passed to another worker while it waited",
            task.id,
            extra={"action": "prefetched_task_lost", "task_id": str(task.id)},
        )
        return False

    def _drop_broken_connection(self) -> None:
        # Not close_old_connections(): with CONN_MAX_AGE = 0 it would reconnect
        # before every claim. A worker keeps its connection while it works.
        connection = connections[self.database]
        if connection.connection is not None and connection.errors_occurred:
            if connection.is_usable():
                connection.errors_occurred = False
            else:
                connection.close()
