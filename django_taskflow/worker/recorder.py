"""The slot's write-behind log: finished attempts and notes, written in batches.

The slot's main thread hands over each finished attempt (a *completion*)
and each *note* (an event of a running attempt: started, progress, soft
timeout). The recorder thread writes them in one transaction per batch
(``transitions.record_batch``), tells the slot's marks which outcomes are
committed, and queues the signals announcing them for the publisher.

A batch the recorder has taken stays in its hands until it is written:
after a lost connection it pauses (``Reconnect``) and tries again; after
any other exception it logs it and tries again too. The thread survives
every exception.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

from django.db import DatabaseError, connections

from django_taskflow import cancellation, events, results, signals, transitions
from django_taskflow.claim import ClaimedTask
from django_taskflow.conf import Options
from django_taskflow.flows import advance as flow_advance
from django_taskflow.live import outbox as live_outbox
from django_taskflow.models import EventKind
from django_taskflow.states import Status
from django_taskflow.worker.marks import RunningMarks
from django_taskflow.worker.publisher import Publisher
from django_taskflow.worker.reconnect import Reconnect

logger = logging.getLogger(__name__)

# How long a finished attempt may wait before the recorder writes it.
FLUSH_SECONDS = 0.02

type Pending = tuple[transitions.Completion, results.TaskflowResult | None]


class Recorder:
    """Writes what one slot finished and noted, on its own thread."""

    def __init__(
        self,
        *,
        options: Options,
        worker_id: str,
        marks: RunningMarks,
        publisher: Publisher,
        stop: threading.Event,
        now: Callable[[], datetime],
        inline: bool = False,
    ) -> None:
        self.database = options.database
        self.slot_stop = stop
        self.worker_id = worker_id
        self.batch_size = options.batch_size
        self.marks = marks
        self.publisher = publisher
        self.now = now
        self.inline = inline
        self.reconnect = Reconnect(
            database=self.database, worker_id=worker_id, max_delay=options.heartbeat_seconds
        )
        self.pending: list[Pending] = []
        self.notes: list[transitions.Note] = []
        self.changed = threading.Condition()
        self.recording = 0  # completions taken from pending but not yet written
        # Grows with every batch committed: a burst slot that found the queue
        # empty compares it with what it read before claiming, as a retry
        # committed between its claim and its look at the recorder is due.
        self.completions_written = 0
        self.stopping = threading.Event()
        self.thread: threading.Thread | None = None

    def start(self) -> None:
        live_outbox.prepare()
        if not self.inline:
            self.thread = threading.Thread(
                target=self._loop, name=f"recorder-{self.worker_id}", daemon=True
            )
            self.thread.start()

    # -- what the slot hands over (main and watchdog threads) ----------------

    def note(self, task: ClaimedTask, kind: EventKind, data: dict[str, Any]) -> None:
        note = transitions.Note(task=task, kind=kind, at=self.now(), data=data)
        with self.changed:
            self.notes.append(note)

    def add(self, completion: transitions.Completion, snapshot: Any) -> None:
        """Take a finished attempt; wait while too many are unwritten (back-pressure)."""
        with self.changed:
            self.pending.append((completion, snapshot))
            if len(self.pending) >= self.batch_size:
                self.changed.notify()
            while (
                not self.inline
                and len(self.pending) >= 4 * self.batch_size
                and not self.stopping.is_set()
            ):
                self.changed.wait(0.1)
        if self.inline:
            self.flush()

    def wait_until_recorded(self, timeout: float | None = None) -> bool:
        """Wait until everything handed over is written; say if there was anything."""
        if self.inline:
            had_work = bool(self.pending or self.notes)
            self.flush()
            return had_work
        deadline = None if timeout is None else time.monotonic() + timeout
        with self.changed:
            had_work = bool(self.pending or self.recording)
            self.changed.notify_all()
            while self.pending or self.recording:
                if deadline is not None and time.monotonic() >= deadline:
                    break
                self.changed.wait(0.05)
        return had_work

    @property
    def all_recorded(self) -> bool:
        """Whether every finished attempt handed over so far is written."""
        with self.changed:
            return not (self.pending or self.recording)

    def stop(self) -> None:
        """Stop the thread, then write what is left from the calling thread."""
        self.stopping.set()
        if self.thread is not None:
            with self.changed:
                self.changed.notify_all()
            self.thread.join()
        # The outcome of finished work is written even while shutting down;
        # its signals still go through the publisher, after what it queued.
        with signals.delivered_by(self.publisher.deliver):
            self.flush()

    # -- writing -------------------------------------------------------------

    def _loop(self) -> None:
        with signals.delivered_by(self.publisher.deliver):
            try:
                while not self.stopping.is_set():
                    with self.changed:
                        if not (self.pending or self.notes):
                            self.changed.wait(FLUSH_SECONDS)
                    if self.pending or self.notes:
                        # Let a few more finish so they share one write.
                        self.stopping.wait(FLUSH_SECONDS / 4)
                        self.flush()
            except BaseException:
                # flush() survives every Exception; this is worse (MemoryError,
                # say). The slot stops, and writes what is left as it does.
                logger.exception(
                    "the recorder thread failed; this slot stops",
                    extra={"action": "recorder_failed", "worker_id": self.worker_id},
                )
                self.slot_stop.set()
                self.stopping.set()
            finally:
                connections.close_all()

    def flush(self) -> None:
        """Write everything handed over so far, trying until it is written."""
        with self.changed:
            batch, self.pending = self.pending, []
            notes, self.notes = self.notes, []
            self.recording += len(batch)
            self.changed.notify_all()
        try:
            while batch or notes:
                try:
                    self._write(batch, notes)
                except DatabaseError as exc:
                    if self.inline:
                        raise
                    self.reconnect.lost("recording", exc)
                except Exception:
                    if self.inline:
                        raise
                    # A fault of ours, not the database's: say so loudly, keep
                    # the batch and try again after a pause.
                    logger.exception(
                        "could not record %d outcomes; trying again",
                        len(batch),
                        extra={"action": "recording_failed", "worker_id": self.worker_id},
                    )
                    self.reconnect.wait()
                else:
                    self.completions_written += len(batch)
                    self.reconnect.succeeded()
                    return
        finally:
            with self.changed:
                self.recording -= len(batch)
                self.changed.notify_all()

    def _write(self, batch: list[Pending], notes: list[transitions.Note]) -> None:
        kept, written = transitions.record_batch(
            self.database, self.worker_id, [completion for completion, _ in batch], notes
        )
        # Committed: a task whose guarded write lost is no longer ours either.
        if batch:
            self.marks.committed([completion.task.id for completion, _ in batch])
        # After the outcomes' commit: a flow left behind here is the sweep's.
        steps = [(c.task.flow_id, c.task.id) for c in kept if c.task.flow_id and c.outcome.is_final]
        if steps:
            flow_advance.advance_after(self.database, steps)
        try:
            with self.publisher.batch():
                self._announce(batch, kept, written)
                self._cancel_refused_retries(batch, kept)
        except Exception:
            # Written and committed: never write it again for this.
            logger.exception(
                "could not announce %d recorded outcomes",
                len(batch),
                extra={"action": "announce_failed", "worker_id": self.worker_id},
            )

    def _cancel_refused_retries(
        self, batch: list[Pending], kept: list[transitions.Completion]
    ) -> None:
        """A retry the database refused because the task was cancelled meanwhile
        (and the slot did not know yet) ends the task ``cancelled``."""
        won = {completion.task.id for completion in kept}
        refused = [
            (
                c.task.id,
                c.task.attempt,
                c.outcome.error_class,
                c.outcome.error_message,
                c.outcome.traceback,
            )
            for c, _ in batch
            if c.outcome.status == Status.QUEUED and c.task.id not in won
        ]
        if refused:
            cancellation.end_refused_retries(self.database, self.worker_id, refused)

    def _announce(
        self,
        batch: list[Pending],
        kept: list[transitions.Completion],
        written: list[Any],
    ) -> None:
        events.publish(written)
        snapshots = {completion.task.id: snapshot for completion, snapshot in batch}
        for completion in kept:
            snapshot = snapshots[completion.task.id]
            outcome = completion.outcome
            if (
                snapshot is None
                or not outcome.is_final
                or not signals.is_heard(
                    signals.task_finished, failed=outcome.status == Status.FAILED
                )
            ):
                continue
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
