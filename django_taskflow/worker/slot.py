"""One execution slot: claim, run and record tasks one at a time.

A slot's main thread claims and runs. Its recorder thread (a supervised side
duty) writes finished attempts and notes (started, progress, soft timeout)
in batches with their events, renews the leases of what the slot holds and
recovers other workers' expired leases. If the recorder dies, the slot
stops. Its watchdog thread enforces time limits (see ``watchdog.py``).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import random
import signal
import threading
import time
from collections import deque
from collections.abc import Callable
from datetime import datetime, timedelta
from types import FrameType
from typing import Any

from django.db import InterfaceError, OperationalError, connections
from django.utils import timezone

from django_taskflow import claim, events, models, registry, results, signals, transitions
from django_taskflow.conf import Options
from django_taskflow.db import dialect_for
from django_taskflow.exceptions import HardTimeLimitExceeded, UnknownTask
from django_taskflow.execution import middleware as middleware_chain
from django_taskflow.execution import runner
from django_taskflow.models import EventKind
from django_taskflow.states import AttemptOutcome, Status
from django_taskflow.worker.watchdog import Watchdog, clear_pending_interrupt, raise_in_thread

logger = logging.getLogger(__name__)

CONNECTION_ERRORS = (OperationalError, InterfaceError)
# How long a finished attempt may wait before the recorder writes it.
FLUSH_SECONDS = 0.02
# Claim enough tasks to keep the slot busy this long (see _batch_size).
PREFETCH_SECONDS = 0.05
# Pause after a lost connection: doubles up to the maximum, reset on success.
RECONNECT_MIN_SECONDS = 0.5
RECONNECT_MAX_SECONDS = 30.0
# Exit code of a slot process given up after a hard timeout the task ignored.
EXIT_GIVEN_UP = 3

type Pending = tuple[transitions.Completion, results.TaskflowResult | None]


class ForcedStop(BaseException):
    """Raised into the running task when the worker must stop at once."""


class Slot:
    """Claims, runs and records tasks for one worker id."""

    @property
    def handles_signals(self) -> bool:
        """Whether SIGINT is the worker's (a KeyboardInterrupt then came from the task)."""
        return not self.inline

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
    ) -> None:
        self.options = options
        self.database = options.database
        self.backend = backend
        self.queues = queues
        self.worker_id = worker_id
        self.stop = stop
        self.burst = burst
        self.inline = inline
        self.in_process = in_process
        self.now = now
        self.prefetched: deque[claim.ClaimedTask] = deque()
        self.current: claim.ClaimedTask | None = None
        self.average_seconds: float | None = None
        self.pending: list[Pending] = []
        self.notes: list[transitions.Note] = []
        self.pending_changed = threading.Condition()
        self.recording = 0  # completions the recorder has taken but not yet written
        self.recorder: threading.Thread | None = None
        self.recorder_failed = False
        self.recorder_stop = threading.Event()
        self.abandoned = False
        self.next_heartbeat = 0.0
        self.next_recovery = 0.0
        self.waiter = dialect_for(self.database).Waiter(self.database, stop)
        self.processed = 0
        self.parent_pid = parent_pid
        self.reconnect_delay = RECONNECT_MIN_SECONDS
        self.middleware = middleware_chain.load(
            options.middleware, setting=f"TASKS[{backend!r}]['OPTIONS']['MIDDLEWARE']"
        )
        self.run_thread_id = 0
        self.watchdog: Watchdog | None = None
        # Guards in_user_code: a time-limit interrupt is delivered only while
        # the task's own code (and its middleware) runs, never into the slot.
        self.interrupt_lock = threading.Lock()
        self.in_user_code = False
        self.prefetch_lock = threading.Lock()
        self.claimed_at = 0.0
        self.lease_requests: dict[Any, datetime] = {}
        # Reconnection pauses wait on this, not on stop: a stopping slot must
        # still pause between attempts to write its last outcomes.
        self.pause = threading.Event()
        self.max_reconnect_delay = min(RECONNECT_MAX_SECONDS, options.heartbeat_seconds)

    # -- main thread -------------------------------------------------------

    def run(self) -> None:
        """Work until asked to stop (or, in burst mode, until nothing is ready)."""
        self.run_thread_id = threading.get_ident()
        if not self.inline:
            self.recorder = threading.Thread(
                target=self._record_loop, name=f"recorder-{self.worker_id}", daemon=True
            )
            self.recorder.start()
            self.watchdog = Watchdog(
                name=self.worker_id,
                on_soft=self._note_soft_timeout,
                interrupt=self._interrupt_running_task,
                give_up=self._give_up,
            )
            if self.in_process:
                signal.signal(signal.SIGALRM, self._on_hard_timeout_signal)
        try:
            while not self.stop.is_set() and not self.recorder_failed:
                if not self.run_once() and self.burst:
                    break
        except ForcedStop:
            logger.warning("forced to stop", extra={"action": "worker_forced_stop"})
            if self.current is not None:
                self._interrupt(self.current)
        finally:
            if not self.abandoned:
                self._shut_down()

    def run_once(self) -> bool:
        """Run one task if there is one (claiming first if needed); say if it did."""
        if not self.prefetched and not self._claim():
            if self.inline:
                self._side_duties()
            if not self.burst:
                self.waiter.wait(self.options.poll_interval)
                return False
            # A retry may sit in the recorder's batch: once it is written,
            # look again before calling the queue drained.
            return self._wait_until_recorded() and self._claim()
        with self.prefetch_lock:
            if not self.prefetched:
                return False
            task = self.prefetched.popleft()
        if not self._still_held(task):
            return True
        self.current = task
        started = time.monotonic()
        self._note(task, EventKind.STARTED, {})
        try:
            outcome, snapshot = runner.run(
                task,
                worker_id=self.worker_id,
                max_bytes=self.options.max_payload_bytes,
                now=self.now,
                middleware=self.middleware,
                reporter=self,
            )
        finally:
            # On a forced stop self.current stays set: run() hands it back.
            if self.watchdog is not None:
                self.watchdog.end()
        self.current = None
        finished_at = self.now()
        elapsed = time.monotonic() - started
        self.average_seconds = (
            elapsed if self.average_seconds is None else 0.8 * self.average_seconds + 0.2 * elapsed
        )
        completion = transitions.Completion(
            task=task,
            outcome=outcome,
            started_at=finished_at - timedelta(seconds=elapsed),
            finished_at=finished_at,
        )
        self.processed += 1
        if self.inline:
            self._flush_batch([(completion, snapshot)], self._take_notes())
            self._side_duties()
        else:
            with self.pending_changed:
                self.pending.append((completion, snapshot))
                if len(self.pending) >= self.options.batch_size:
                    self.pending_changed.notify()
                # Back-pressure: never run far ahead of what is recorded.
                while len(self.pending) >= 4 * self.options.batch_size and not self.recorder_failed:
                    self.pending_changed.wait(0.1)
        return True

    def _still_held(self, task: claim.ClaimedTask) -> bool:
        """Before starting a task that waited behind a long one, confirm its lease.

        If heartbeats failed meanwhile, another worker may have recovered it:
        starting it here would run it twice.
        """
        if time.monotonic() - self.claimed_at < self.options.heartbeat_seconds:
            return True
        until = self.now() + timedelta(seconds=self.options.lease_seconds)
        try:
            held = transitions.extend_lease(self.database, self.worker_id, task.id, until)
        except CONNECTION_ERRORS as exc:
            self._connection_lost("lease check", exc)
            held = False
        if not held:
            logger.warning(
                "skipped task %s: its lease passed to another worker while it waited",
                task.id,
                extra={"action": "prefetched_task_lost", "task_id": str(task.id)},
            )
        return held

    # -- what the running task reports (runner.Reporter) -------------------

    def begin_attempt(self, task: claim.ClaimedTask, context: Any) -> None:
        """Called by the runner as the task's code starts: start its timers."""
        with self.interrupt_lock:
            self.in_user_code = True
        if self.watchdog is None:
            return
        timeout = getattr(_definition_or_none(task), "timeout", None)
        self.watchdog.begin(task, context, getattr(timeout, "on_soft_timeout", None))

    def end_attempt(self) -> None:
        """Called by the runner as the task's code returns or raises."""
        try:
            with self.interrupt_lock:
                self.in_user_code = False
                if not self.in_process:
                    clear_pending_interrupt(self.run_thread_id)
        except HardTimeLimitExceeded:
            # Delivered just as the task's code returned: the attempt ended in time
            # after all, so the result stands.
            logger.debug("a hard-timeout interrupt arrived as the task returned")
        if self.watchdog is not None:
            self.watchdog.end()

    def report_progress(self, task_id: str, fraction: float, detail: dict[str, Any]) -> None:
        task = self.current
        if task is not None and str(task.id) == task_id:
            self._note(task, EventKind.PROGRESS, {"progress": fraction, "detail": detail})

    def extend_lease(self, task_id: str, seconds: float | None) -> None:
        """Extend the lease now from the task's own synchronous code, so that it
        holds before a long GIL-holding call; from an async task or another
        thread (where Django forbids or lacks this connection), ask the recorder."""
        task = self.current
        if task is None or str(task.id) != task_id:
            return
        until = self.now() + timedelta(seconds=seconds or self.options.lease_seconds)
        if self._may_query_here():
            try:
                transitions.extend_lease(self.database, self.worker_id, task.id, until)
            except CONNECTION_ERRORS as exc:
                self._connection_lost("lease extension", exc)
            return
        with self.pending_changed:
            self.lease_requests[task.id] = until
            self.pending_changed.notify()

    def _may_query_here(self) -> bool:
        if threading.get_ident() != self.run_thread_id:
            return False
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return True
        return False

    def _note(self, task: claim.ClaimedTask, kind: EventKind, data: dict[str, Any]) -> None:
        note = transitions.Note(task=task, kind=kind, at=self.now(), data=data)
        with self.pending_changed:
            self.notes.append(note)

    def _note_soft_timeout(self, task: claim.ClaimedTask) -> None:
        self._note(task, EventKind.SOFT_TIMEOUT, {"seconds": task.timeout_soft})

    def _take_notes(self) -> list[transitions.Note]:
        with self.pending_changed:
            notes, self.notes = self.notes, []
        return notes

    # -- time limits ---------------------------------------------------------

    def _on_hard_timeout_signal(self, signum: int, frame: FrameType | None) -> None:
        # Runs in the main thread, which also sets in_user_code: no race.
        if self.in_user_code and self.current is not None:
            raise HardTimeLimitExceeded(
                f"the attempt ran past its hard time limit ({self.current.timeout_hard:g} s)"
            )

    def _interrupt_running_task(self, task: claim.ClaimedTask) -> None:
        with self.interrupt_lock:
            if not self.in_user_code or self.current is not task:
                return
            if self.in_process:
                signal.pthread_kill(self.run_thread_id, signal.SIGALRM)
            else:
                raise_in_thread(self.run_thread_id)

    def _give_up(self, task: claim.ClaimedTask) -> bool:
        """The task ignores its hard limit: record it, hand back the rest, leave.

        Returns False (and does nothing) if the task finished meanwhile.
        """
        with self.interrupt_lock:
            if self.current is not task:
                return False
            self.abandoned = True
        self.stop.set()
        try:
            self._wait_until_recorded(timeout=5)
            self.recorder_stop.set()
            self._interrupt(task, outcome=AttemptOutcome.TIMED_OUT)
            self._hand_back_prefetched()
        except Exception:
            logger.exception(
                "could not record the given-up attempt of task %s; its lease will expire",
                task.id,
                extra={"action": "give_up_failed", "task_id": str(task.id)},
            )
        finally:
            if self.in_process:
                logging.shutdown()
                os._exit(EXIT_GIVEN_UP)
        connections.close_all()
        return True

    # -- claiming ------------------------------------------------------------

    def _wait_until_recorded(self, timeout: float | None = None) -> bool:
        """Wait for the recorder to write everything; say if there was anything."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self.pending_changed:
            had_work = bool(self.pending or self.recording)
            self.pending_changed.notify_all()
            while (self.pending or self.recording) and not self.recorder_failed:
                if deadline is not None and time.monotonic() >= deadline:
                    break
                self.pending_changed.wait(0.05)
        return had_work

    def _batch_size(self) -> int:
        """Claim many short tasks at once, but one long task at a time.

        Prefetched tasks wait behind the running one, so only prefetch what
        the slot will finish within ``PREFETCH_SECONDS``.
        """
        if self.average_seconds is None:
            return 1
        wanted = int(PREFETCH_SECONDS / max(self.average_seconds, 1e-6))
        return max(1, min(self.options.batch_size, wanted))

    def _drop_broken_connection(self) -> None:
        # Not close_old_connections(): with CONN_MAX_AGE = 0 it would reconnect
        # before every claim. A worker keeps its connection while it works.
        connection = connections[self.database]
        if connection.connection is not None and connection.errors_occurred:
            if connection.is_usable():
                connection.errors_occurred = False
            else:
                connection.close()

    def _claim(self) -> bool:
        self._drop_broken_connection()
        try:
            claimed = claim.claim_batch(
                database=self.database,
                worker_id=self.worker_id,
                backend=self.backend,
                queues=self.queues,
                limit=self._batch_size(),
                lease_seconds=self.options.lease_seconds,
                now=self.now(),
            )
        except CONNECTION_ERRORS as exc:
            self._connection_lost("claim", exc)
            return False
        self.reconnect_delay = RECONNECT_MIN_SECONDS
        with self.prefetch_lock:
            self.prefetched.extend(claimed)
            self.claimed_at = time.monotonic()
        return bool(claimed)

    def _connection_lost(self, during: str, exc: Exception) -> None:
        logger.warning(
            "database connection lost during %s (%s); reconnecting",
            during,
            exc,
            extra={"action": "connection_lost", "worker_id": self.worker_id},
        )
        connections[self.database].close()
        self.pause.wait(self.reconnect_delay * random.uniform(0.5, 1.5))  # noqa: S311 (jitter)
        # Capped below the heartbeat interval, so that a short outage does
        # not let this worker's leases expire while it waits.
        self.reconnect_delay = min(self.reconnect_delay * 2, self.max_reconnect_delay)

    # -- stopping ------------------------------------------------------------

    def abandon(self) -> None:
        """Give up a slot whose thread cannot be stopped (thread pool, forced stop).

        Writes what it finished, hands back what it had not started and
        records the running attempt as interrupted. Guarded writes make this
        safe even if the slot's thread finishes the task at the same moment.
        """
        self.stop.set()
        self._wait_until_recorded(timeout=5)
        self._flush_pending()
        self._hand_back_prefetched()
        current = self.current
        if current is not None:
            self._interrupt(current)

    def _hand_back_prefetched(self) -> None:
        with self.prefetch_lock:
            unstarted = list(self.prefetched)
            self.prefetched.clear()
        transitions.hand_back(self.database, self.worker_id, [t.id for t in unstarted])

    def _interrupt(
        self, task: claim.ClaimedTask, outcome: AttemptOutcome = AttemptOutcome.INTERRUPTED
    ) -> None:
        """End ``task``'s attempt without a result, if this slot still holds it."""
        row = models.Task.objects.using(self.database).filter(pk=task.id).first()
        if (
            row is None
            or row.status != Status.RUNNING
            or row.worker_id != self.worker_id
            or row.attempts != task.attempt
        ):
            return  # finished, or recovered and claimed by another worker since
        message = None
        if outcome == AttemptOutcome.TIMED_OUT:
            message = (
                f"the attempt ran past its hard time limit ({task.timeout_hard:g} s) "
                "and did not stop"
            )
        transitions.end_attempt_abruptly(
            self.database, row, outcome=outcome, now=self.now(), message=message
        )

    def _shut_down(self) -> None:
        if self.watchdog is not None:
            self.watchdog.stop()
        if self.recorder is not None:
            self.recorder_stop.set()
            with self.pending_changed:
                self.pending_changed.notify()
            self.recorder.join()
        # The outcome of finished work is written even while shutting down.
        self._flush_pending()
        if self.prefetched:
            self._hand_back_prefetched()
        self.waiter.close()
        if not self.inline:
            connections.close_all()

    # -- recorder (side duty) ------------------------------------------------

    def _record_loop(self) -> None:
        try:
            while True:
                with self.pending_changed:
                    idle = not (self.pending or self.notes or self.lease_requests)
                    if idle and not self.recorder_stop.is_set():
                        self.pending_changed.wait(FLUSH_SECONDS)
                if self.pending or self.notes:
                    # Let a few more finish so they share one write.
                    time.sleep(0 if self.recorder_stop.is_set() else FLUSH_SECONDS / 4)
                    self._flush_pending()
                self._side_duties()
                if self.recorder_stop.is_set():
                    return
        except BaseException:
            logger.exception(
                "the recorder thread failed; this slot stops",
                extra={"action": "recorder_failed", "worker_id": self.worker_id},
            )
            self.recorder_failed = True
            self.stop.set()
        finally:
            connections.close_all()

    def _flush_pending(self) -> None:
        with self.pending_changed:
            batch, self.pending = self.pending, []
            notes, self.notes = self.notes, []
            self.recording += len(batch)
            self.pending_changed.notify_all()
        try:
            while batch or notes:
                try:
                    self._flush_batch(batch, notes)
                    self.reconnect_delay = RECONNECT_MIN_SECONDS
                    return
                except CONNECTION_ERRORS as exc:
                    self._connection_lost("recording", exc)
        finally:
            with self.pending_changed:
                self.recording -= len(batch)
                self.pending_changed.notify_all()

    def _flush_batch(self, batch: list[Pending], notes: list[transitions.Note]) -> None:
        kept, written = transitions.record_batch(
            self.database, self.worker_id, [completion for completion, _ in batch], notes
        )
        events.publish(written)
        snapshots = {completion.task.id: snapshot for completion, snapshot in batch}
        for completion in kept:
            snapshot = snapshots[completion.task.id]
            if snapshot is None or not completion.outcome.is_final:
                continue
            outcome = completion.outcome
            finished = results.finished(
                snapshot,
                status=outcome.status,
                finished_at=completion.finished_at,
                return_value=None
                if outcome.result_json is None
                else json.loads(outcome.result_json),
            )
            signals.send_from_worker(
                signals.task_finished, type(snapshot.task.get_backend()), task_result=finished
            )

    def _extend_requested_leases(self) -> None:
        with self.pending_changed:
            requests, self.lease_requests = self.lease_requests, {}
        for task_id, until in requests.items():
            transitions.extend_lease(self.database, self.worker_id, task_id, until)

    def _side_duties(self) -> None:
        if self.parent_pid is not None and os.getppid() != self.parent_pid:
            if not self.stop.is_set():
                logger.warning(
                    "the supervisor process is gone; this slot stops",
                    extra={"action": "supervisor_lost", "worker_id": self.worker_id},
                )
            self.stop.set()
        try:
            self._extend_requested_leases()
        except CONNECTION_ERRORS as exc:
            self._connection_lost("lease extension", exc)
        clock = time.monotonic()
        if clock < self.next_heartbeat and clock < self.next_recovery:
            return
        try:
            if clock >= self.next_heartbeat:
                self.next_heartbeat = clock + self.options.heartbeat_seconds
                transitions.extend_leases(
                    self.database,
                    self.worker_id,
                    self.now() + timedelta(seconds=self.options.lease_seconds),
                )
            if clock >= self.next_recovery:
                # Every worker recovers expired leases, so recovery never
                # depends on one process staying alive. Jitter spreads them.
                self.next_recovery = clock + self.options.lease_seconds / 2 * random.uniform(0.5, 1)  # noqa: S311
                transitions.recover_expired(self.database, self.now())
        except CONNECTION_ERRORS as exc:
            self._connection_lost("lease renewal", exc)


def _definition_or_none(task: claim.ClaimedTask) -> Any:
    try:
        return registry.resolve(task.task_path)
    except UnknownTask:
        return None
