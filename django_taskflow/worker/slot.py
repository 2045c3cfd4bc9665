"""One execution slot: claim, run and record tasks one at a time.

A slot's main thread claims and runs. Its recorder thread (a supervised side
duty) writes finished attempts in batches, renews the leases of what the
slot holds and recovers other workers' expired leases. If the recorder dies,
the slot stops.
"""

from __future__ import annotations

import logging
import os
import random
import threading
import time
from collections import deque
from collections.abc import Callable
from datetime import datetime, timedelta

from django.db import InterfaceError, OperationalError, connections
from django.utils import timezone

from django_taskflow import claim, models, results, signals, transitions
from django_taskflow.conf import Options
from django_taskflow.db import dialect_for
from django_taskflow.execution import runner
from django_taskflow.states import Outcome as AttemptOutcome
from django_taskflow.states import Status

logger = logging.getLogger(__name__)

CONNECTION_ERRORS = (OperationalError, InterfaceError)
# How long a finished attempt may wait before the recorder writes it.
FLUSH_SECONDS = 0.02
# Claim enough tasks to keep the slot busy this long (see _batch_size).
PREFETCH_SECONDS = 0.05
# Pause after a lost connection: doubles up to the maximum, reset on success.
RECONNECT_MIN_SECONDS = 0.5
RECONNECT_MAX_SECONDS = 30.0


class ForcedStop(BaseException):
    """Raised into the running task when the worker must stop at once."""


class Slot:
    """Claims, runs and records tasks for one worker id."""

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
        self.now = now
        self.prefetched: deque[claim.ClaimedTask] = deque()
        self.current: claim.ClaimedTask | None = None
        self.average_seconds: float | None = None
        self.pending: list[tuple[transitions.Completion, results.TaskflowResult | None]] = []
        self.pending_changed = threading.Condition()
        self.recorder: threading.Thread | None = None
        self.recorder_failed = False
        self.recorder_stop = threading.Event()
        self.next_heartbeat = 0.0
        self.next_recovery = 0.0
        self.waiter = dialect_for(self.database).Waiter(self.database, stop)
        self.processed = 0
        self.parent_pid = parent_pid
        self.recording = 0  # completions the recorder has taken but not yet written
        self.reconnect_delay = RECONNECT_MIN_SECONDS

    # -- main thread -------------------------------------------------------

    def run(self) -> None:
        """Work until asked to stop (or, in burst mode, until nothing is ready)."""
        if not self.inline:
            self.recorder = threading.Thread(
                target=self._record_loop, name=f"recorder-{self.worker_id}", daemon=True
            )
            self.recorder.start()
        try:
            while not self.stop.is_set() and not self.recorder_failed:
                if not self.run_once() and self.burst:
                    break
        except ForcedStop:
            logger.warning("forced to stop", extra={"action": "worker_forced_stop"})
            if self.current is not None:
                self._interrupt(self.current)
        finally:
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
        task = self.prefetched.popleft()
        self.current = task
        started = time.monotonic()
        outcome, snapshot = runner.run(
            task, worker_id=self.worker_id, max_bytes=self.options.max_payload_bytes, now=self.now
        )
        finished_at = self.now()
        self.current = None
        elapsed = time.monotonic() - started
        self.average_seconds = (
            elapsed if self.average_seconds is None else 0.8 * self.average_seconds + 0.2 * elapsed
        )
        started_at = finished_at - timedelta(seconds=elapsed)
        completion = transitions.Completion(
            task=task, outcome=outcome, started_at=started_at, finished_at=finished_at
        )
        self.processed += 1
        if self.inline:
            self._flush([(completion, snapshot)])
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

    def _wait_until_recorded(self) -> bool:
        """Wait for the recorder to write everything; say if there was anything."""
        with self.pending_changed:
            had_work = bool(self.pending or self.recording)
            self.pending_changed.notify_all()
            while (self.pending or self.recording) and not self.recorder_failed:
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
        self.prefetched.extend(claimed)
        return bool(claimed)

    def _connection_lost(self, during: str, exc: Exception) -> None:
        logger.warning(
            "database connection lost during %s (%s); reconnecting",
            during,
            exc,
            extra={"action": "connection_lost", "worker_id": self.worker_id},
        )
        connections[self.database].close()
        self.stop.wait(self.reconnect_delay * random.uniform(0.5, 1.5))  # noqa: S311 (jitter)
        self.reconnect_delay = min(self.reconnect_delay * 2, RECONNECT_MAX_SECONDS)

    def abandon(self) -> None:
        """Give up a slot whose thread cannot be stopped (thread pool, forced stop).

        Writes what it finished, hands back what it had not started and
        records the running attempt as interrupted. Guarded writes make this
        safe even if the slot's thread finishes the task at the same moment.
        """
        self.stop.set()
        self._flush_pending()
        unstarted = list(self.prefetched)
        self.prefetched.clear()
        transitions.hand_back(self.database, self.worker_id, [t.id for t in unstarted])
        current = self.current
        if current is not None:
            self._interrupt(current)

    def _interrupt(self, task: claim.ClaimedTask) -> None:
        row = models.Task.objects.using(self.database).filter(pk=task.id).first()
        if row is not None and row.status == Status.RUNNING:
            transitions.end_attempt_abruptly(
                self.database, row, outcome=AttemptOutcome.INTERRUPTED, now=self.now()
            )

    def _shut_down(self) -> None:
        if self.recorder is not None:
            self.recorder_stop.set()
            with self.pending_changed:
                self.pending_changed.notify()
            self.recorder.join()
        # The outcome of finished work is written even while shutting down.
        self._flush_pending()
        if self.prefetched:
            transitions.hand_back(self.database, self.worker_id, [t.id for t in self.prefetched])
            self.prefetched.clear()
        self.waiter.close()
        if not self.inline:
            connections.close_all()

    # -- recorder (side duty) ------------------------------------------------

    def _record_loop(self) -> None:
        try:
            while True:
                with self.pending_changed:
                    if not self.pending and not self.recorder_stop.is_set():
                        self.pending_changed.wait(FLUSH_SECONDS)
                if self.pending:
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
            self.recording += len(batch)
            self.pending_changed.notify_all()
        try:
            while batch:
                try:
                    self._flush(batch)
                    self.reconnect_delay = RECONNECT_MIN_SECONDS
                    return
                except CONNECTION_ERRORS as exc:
                    self._connection_lost("recording", exc)
        finally:
            with self.pending_changed:
                self.recording -= len(batch)
                self.pending_changed.notify_all()

    def _flush(
        self, batch: list[tuple[transitions.Completion, results.TaskflowResult | None]]
    ) -> None:
        won = transitions.complete_batch(
            self.database, self.worker_id, [completion for completion, _ in batch]
        )
        for completion, snapshot in batch:
            if snapshot is None or completion.task.id not in won or not completion.outcome.is_final:
                continue
            finished = results.build(
                snapshot.task,
                task_id=snapshot.id,
                status=completion.outcome.status,
                args=snapshot.args,
                kwargs=snapshot.kwargs,
                enqueued_at=snapshot.enqueued_at,
                started_at=snapshot.started_at,
                finished_at=completion.finished_at,
                last_attempted_at=completion.started_at,
                worker_ids=snapshot.worker_ids,
            )
            signals.send_from_worker(
                signals.task_finished, type(snapshot.task.get_backend()), task_result=finished
            )

    def _side_duties(self) -> None:
        if self.parent_pid is not None and os.getppid() != self.parent_pid:
            if not self.stop.is_set():
                logger.warning(
                    "the supervisor process is gone; this slot stops",
                    extra={"action": "supervisor_lost", "worker_id": self.worker_id},
                )
            self.stop.set()
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
