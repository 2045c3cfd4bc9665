"""One execution slot: claim tasks and run them, one at a time.

The main thread claims (``Prefetch``) and runs. Each side duty has a
module and a thread of its own: ``Recorder`` writes outcomes and notes,
``LeaseKeeper`` renews, extends and recovers leases, ``Publisher`` sends
signals and hooks, and ``Interrupts`` (with its ``Watchdog``) lets time
limits and forced stops reach only the task's own code. ``SlotCancels``
holds the cancel requests the lease keeper reads for the slot's tasks.
``docs/architecture.md`` names the handshakes between them.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from django.db import connections
from django.utils import timezone

from django_taskflow import claim, transitions
from django_taskflow.cancel_requests import CancelRequest, request_for
from django_taskflow.conf import Options
from django_taskflow.db import dialect_for
from django_taskflow.encoding.attempts import progress_note
from django_taskflow.exceptions import ForcedStop
from django_taskflow.execution import middleware as middleware_chain
from django_taskflow.execution import runner
from django_taskflow.models import EventKind
from django_taskflow.states import AttemptOutcome
from django_taskflow.worker.interrupts import Interrupts, end_attempt_without_result
from django_taskflow.worker.lease_keeper import LeaseKeeper
from django_taskflow.worker.marks import NO_MARKS, RunningMarks
from django_taskflow.worker.missing_keys import MissingKeys, missing_key
from django_taskflow.worker.prefetch import Prefetch
from django_taskflow.worker.publisher import Publisher
from django_taskflow.worker.recorder import Recorder
from django_taskflow.worker.recycling import NO_RECYCLING, Recycling
from django_taskflow.worker.slot_cancels import SlotCancels, cancelled_outcome, unstarted_outcome
from django_taskflow.worker.wakeup import Waiter, WakePipe

logger = logging.getLogger(__name__)

# Exit code of a slot process given up after a hard timeout the task ignored.
EXIT_GIVEN_UP = 3
# How long a stopping slot waits for its queued signals to be sent.
PUBLISH_ON_STOP_SECONDS = 5.0

__all__ = ["EXIT_GIVEN_UP", "ForcedStop", "Slot"]


class Slot:
    """Claims and runs tasks for one worker id."""

    def __init__(
        self,
        *,
        options: Options,
        backend: str,
        queues: tuple[str, ...],
        worker_id: str,
        stop: threading.Event,
        burst: bool = False,
        inline: bool = False,
        in_process: bool = False,
        parent_pid: int | None = None,
        now: Callable[[], datetime] = timezone.now,
        marks: RunningMarks = NO_MARKS,
        waiter: Waiter | None = None,
        cancel_poke: WakePipe | None = None,
        capabilities: frozenset[str] = frozenset(),
        recycling: Recycling = NO_RECYCLING,
    ) -> None:
        self.options = options
        self.database = options.database
        self.backend = backend
        self.queues = queues
        self.worker_id = worker_id
        self.stop = stop
        self.burst = burst
        self.inline = inline
        self.now = now
        self.marks = marks
        self.current: claim.ClaimedTask | None = None
        self.processed = 0
        self.abandoned = False
        self.recycling = recycling
        # Set when the slot stopped to be replaced (worker/recycling.py).
        self.recycled = False
        self.recycle_checked_at = 0  # self.processed when last checked
        self.pause = threading.Event()  # never set: waits without a bare sleep
        # Given by a supervisor that shares its LISTEN connection; else its own.
        self.waiter: Waiter = waiter or dialect_for(self.database).Waiter(self.database, stop)
        self.middleware = middleware_chain.load(
            options.middleware, setting=f"TASKS[{backend!r}]['OPTIONS']['MIDDLEWARE']"
        )
        self.interrupts = Interrupts(
            name=worker_id,
            database=self.database,
            in_process=in_process,
            on_soft=self._note_soft_timeout,
            give_up=self._give_up,
        )
        # Written by the lease keeper's thread, read by the task (context.is_cancelled).
        self.cancels = SlotCancels(
            worker_id=worker_id,
            interrupts=self.interrupts,
            grace_seconds=options.cancel_grace_seconds,
        )
        self.publisher = Publisher(name=worker_id, inline=inline)
        self.missing_keys = MissingKeys(self.database, worker_id)
        self.recorder = Recorder(
            options=options,
            worker_id=worker_id,
            marks=marks,
            publisher=self.publisher,
            stop=stop,
            now=now,
            inline=inline,
        )
        self.prefetch = Prefetch(
            options=options,
            backend=backend,
            queues=queues,
            worker_id=worker_id,
            now=now,
            marks=marks,
            capabilities=capabilities,
            outcomes=self.recorder,
        )
        self.keeper = LeaseKeeper(
            options=options,
            worker_id=worker_id,
            publisher=self.publisher,
            stop=stop,
            parent_pid=parent_pid,
            now=now,
            inline=inline,
            cancel_poke=cancel_poke,
            on_cancel_requests=None if inline else self.cancels.update,
            holds_tasks=self.holds_tasks,
        )

    @property
    def handles_signals(self) -> bool:
        """Whether SIGINT is the worker's (a KeyboardInterrupt then came from the task)."""
        return not self.inline

    # -- main thread -------------------------------------------------------

    def run(self) -> None:
        """Work until asked to stop (or, in burst mode, until nothing is ready)."""
        self.interrupts.install(watch=not self.inline)
        self.recorder.start()
        self.keeper.start()
        try:
            while not self.stop.is_set():
                if not self.run_once() and self.burst:
                    break
                if self.recycling.is_enabled and self._recycle_due():
                    break  # as a burst slot ends: what it prefetched goes back
        except ForcedStop:
            logger.warning("forced to stop", extra={"action": "worker_forced_stop"})
            if self.current is not None:
                self._interrupt(self.current)
        finally:
            if not self.abandoned:
                self._shut_down()

    def run_once(self) -> bool:
        """Run one task if there is one (claiming first if needed); say if it did."""
        if not self.prefetch and self.prefetch.may_hold_strays:
            # A task whose outcome waits to be written is no stray.
            self.recorder.wait_until_recorded(timeout=self.options.heartbeat_seconds)
            if self.recorder.all_recorded:
                self.prefetch.hand_back_strays()
        written_before_claim = self.recorder.completions_written
        if not self.prefetch and not self.prefetch.claim():
            if self.inline:
                self.keeper.run_due()
            if not self.burst:
                self.waiter.wait(self.prefetch.idle_seconds(self.options.poll_interval))
                self.prefetch.control.woke()
                return False
            # A retry may sit in the recorder's batch: once it is written,
            # look again (in every queue) before calling the queue drained.
            had_work = self.recorder.wait_until_recorded()
            if not had_work and self.recorder.completions_written == written_before_claim:
                return False
            self.prefetch.control.woke()
            return self.prefetch.claim()
        task = self.prefetch.take()
        if task is None:
            return True
        self.current = task
        # After setting current: a request the lease keeper adds from now on
        # finds the task current (Interrupts.request_cancel) or is seen here.
        request = self.cancels.get(task.id)
        if request is not None:
            self._end_unstarted(task, request)
            return True
        lacking = missing_key(task, self.options.encryption_keys)
        if lacking is not None:  # this worker's fault, not the task's: uncharged
            self.current = None
            self.missing_keys.hand_back(task, lacking)
            return True
        started = time.monotonic()
        self.recorder.note(task, EventKind.STARTED, {})
        try:
            outcome, snapshot = runner.run(
                task,
                keys=self.options.encryption_keys,
                worker_id=self.worker_id,
                max_bytes=self.options.max_payload_bytes,
                now=self.now,
                middleware=self.middleware,
                reporter=self,
            )
        finally:
            # The runner ends the attempt itself, unless a forced stop landed as
            # it began. On a forced stop self.current stays set: run() hands it back.
            if self.interrupts.in_user_code:
                self.interrupts.end()
        self.marks.body_ended(task.id)  # its mark stays until the outcome is committed
        self.current = None
        request = self.cancels.pop(task.id)
        if request is not None:
            outcome = cancelled_outcome(outcome, request)
        if self.interrupts.interrupted:
            # Its query was cancelled, perhaps mid-flight: start afresh.
            connections[self.database].close()
        finished_at = self.now()
        elapsed = time.monotonic() - started
        self.prefetch.took(elapsed)
        completion = transitions.Completion(
            task=task,
            outcome=outcome,
            started_at=finished_at - timedelta(seconds=elapsed),
            finished_at=finished_at,
        )
        self.processed += 1
        self.recorder.add(completion, snapshot)
        if self.inline:
            self.keeper.run_due()
        return True

    def _recycle_due(self) -> bool:
        """After a task ran: whether this slot passed a recycling limit (and now stops)."""
        if self.processed == self.recycle_checked_at:
            return False
        self.recycle_checked_at = self.processed
        reason = self.recycling.reason(self.processed)
        if reason is None:
            return False
        logger.info(
            "slot %s makes way for a fresh one: %s",
            self.worker_id,
            reason,
            extra={"action": "slot_recycled", "worker_id": self.worker_id},
        )
        self.recycled = True
        return True

    # -- what the running task reports (runner.Reporter) -------------------

    def begin_attempt(self, task: claim.ClaimedTask, context: Any) -> None:
        """Called by the runner as the task's code starts: mark it, start its timers."""
        # The last step before middleware and body: from here a crash may
        # have cost effects, so the task counts as started (a lost attempt).
        self.marks.started(task.id, task.attempt, task.timeout_hard)
        self.interrupts.begin(task, context)

    def end_attempt(self) -> None:
        """Called by the runner as the task's code returns or raises."""
        self.interrupts.end()

    @property
    def hard_limit_passed(self) -> bool:
        """Whether the running attempt was interrupted at its hard limit."""
        return self.interrupts.hard_limit_passed

    def report_progress(
        self, task_id: str, fraction: float, detail: dict[str, Any], message: str | None = None
    ) -> None:
        task = self.current
        if task is not None and str(task.id) == task_id:
            data = progress_note(task, fraction, detail, message, self.options.encryption_keys)
            self.recorder.note(task, EventKind.PROGRESS, data)

    def extend_lease(self, task_id: str, seconds: float | None) -> None:
        """Extend the running task's lease (see ``LeaseKeeper.extend``)."""
        task = self.current
        if task is not None and str(task.id) == task_id:
            self.keeper.extend(task.id, seconds or self.options.lease_seconds)

    def cancellation(self, task_id: str) -> CancelRequest | None:
        """The cancel request for ``task_id``: known from the lease keeper in a
        worker, read from the row in ``run_tasks()`` (which has no lease keeper)."""
        if self.inline:
            return request_for(self.database, task_id)
        return self.cancels.find(task_id)

    def holds_tasks(self) -> bool:
        """Whether the slot runs or holds a task (its lease keeper then polls for cancels)."""
        return self.current is not None or bool(self.prefetch)

    def _end_unstarted(self, task: claim.ClaimedTask, request: CancelRequest) -> None:
        """A prefetched task was cancelled before it started: record it, never run it."""
        self.current = None
        self.cancels.pop(task.id)
        now = self.now()
        completion = transitions.Completion(
            task=task, outcome=unstarted_outcome(request), started_at=now, finished_at=now
        )
        self.recorder.add(completion, None)

    def _note_soft_timeout(self, task: claim.ClaimedTask) -> None:
        self.recorder.note(task, EventKind.SOFT_TIMEOUT, {"seconds": task.timeout_soft})

    # -- stopping ------------------------------------------------------------

    def stop_now(self) -> None:
        """A forced stop, from a signal handler in the main thread."""
        self.stop.set()
        self.interrupts.stop_now()

    def _give_up(self, task: claim.ClaimedTask) -> bool:
        """From the watchdog: the task ignores its hard limit; record it, hand
        back the rest, leave. Returns False (and does nothing) if it finished meanwhile."""
        with self.interrupts.lock:
            if self.current is not task:
                return False
            self.abandoned = True
        self.stop.set()
        try:
            self.recorder.wait_until_recorded(timeout=5)
            self.recorder.stopping.set()
            self._interrupt(task, outcome=AttemptOutcome.TIMED_OUT)
            self.prefetch.hand_back()
        except Exception:
            logger.exception(
                "could not record the given-up attempt of task %s; its lease will expire",
                task.id,
                extra={"action": "give_up_failed", "task_id": str(task.id)},
            )
        finally:
            if self.interrupts.in_process:
                logging.shutdown()
                os._exit(EXIT_GIVEN_UP)
        self.keeper.stop()
        connections.close_all()
        return True

    def abandon(self) -> None:
        """Give up a slot whose thread cannot be stopped (thread pool, forced stop).

        Writes what it finished, hands back what it had not started and
        records the running attempt as interrupted. Guarded writes make this
        safe even if the slot's thread finishes the task at the same moment.
        """
        self.stop.set()
        # A body that has returned gets its outcome recorded, not interrupted.
        deadline = time.monotonic() + 5
        while (
            self.current is not None
            and not self.interrupts.in_user_code
            and time.monotonic() < deadline
        ):
            self.pause.wait(0.01)
        self.recorder.wait_until_recorded(timeout=5)
        self.recorder.flush()
        self.prefetch.hand_back()
        current = self.current
        if current is not None:
            self._interrupt(current)

    def _interrupt(
        self, task: claim.ClaimedTask, outcome: AttemptOutcome = AttemptOutcome.INTERRUPTED
    ) -> None:
        """End ``task``'s attempt without a result, if this slot still holds it."""
        end_attempt_without_result(
            self.database, self.worker_id, task, outcome=outcome, now=self.now()
        )
        self.marks.committed([task.id])

    def _shut_down(self) -> None:
        self.interrupts.stop()
        self.recorder.stop()
        self.prefetch.hand_back()
        self.keeper.stop()
        self.publisher.close(PUBLISH_ON_STOP_SECONDS)
        self.waiter.close()
        if not self.inline:
            connections.close_all()
