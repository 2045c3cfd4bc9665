"""The thread pool: the slots run as threads of the supervisor's process.

A slot thread that stops unexpectedly, is recycled, or is given up after
a hard timeout is replaced with a fresh thread and worker id. A thread
cannot be interrupted, so a forced stop records what each slot finished,
hands back the rest, and leaves the daemon threads to end with the process.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable

from django.db import DatabaseError
from django.utils import timezone

from django_taskflow import recovery
from django_taskflow.states import AttemptOutcome
from django_taskflow.worker.options import WorkerOptions
from django_taskflow.worker.presence import SlotInfo
from django_taskflow.worker.running_table import MemoryMarks, started_attempts
from django_taskflow.worker.slot import Slot
from django_taskflow.worker.stopping import WATCH_SECONDS, StopState

# The supervisor's logger, as before these parts had modules of their own:
# operators' logging configuration names it.
logger = logging.getLogger("django_taskflow.worker.supervisor")


class ThreadPool:
    """Starts, watches and replaces the slot threads."""

    def __init__(self, options: WorkerOptions, state: StopState) -> None:
        self.options = options
        self.backend_options = options.backend_options
        self.state = state
        self.threads: list[tuple[threading.Thread, Slot]] = []
        self.threads_started = 0
        self.thread_marks: dict[str, MemoryMarks] = {}  # thread slot's worker id -> marks

    def drain(self) -> None:
        """Tell every slot to stop claiming and finish what it runs."""
        for _thread, slot in self.threads:
            slot.stop.set()

    def force(self) -> None:
        """Nothing to tell: the watch loop abandons the threads once the stop is forced."""

    def close(self) -> None:
        """Nothing to close: the slots' connections are theirs."""

    def slots(self) -> list[SlotInfo]:
        pid = os.getpid()
        return [
            SlotInfo(index, pid, slot.worker_id)
            for index, (thread, slot) in enumerate(self.threads)
            if thread.is_alive() and not slot.abandoned
        ]

    def running(self) -> list[str]:
        return [
            str(mark.task_id) for marks in list(self.thread_marks.values()) for mark in marks.read()
        ]

    def _recover_thread_slot(self, slot: Slot) -> None:
        """End the attempts of a slot thread that stopped, by its running marks."""
        marks = self.thread_marks.pop(slot.worker_id)
        try:
            recovery.release_worker(
                self.backend_options.database,
                slot.worker_id,
                outcome=AttemptOutcome.LOST,
                now=timezone.now(),
                started=started_attempts(marks.read()),
            )
        except DatabaseError as exc:
            logger.warning(
                "could not recover the tasks of %s now (%s); their leases will expire",
                slot.worker_id,
                exc,
                extra={"action": "recovery_deferred", "worker_id": slot.worker_id},
            )

    def _start_thread(self, index: int) -> tuple[threading.Thread, Slot]:
        self.threads_started += 1
        worker_id = self.options.slot_id(os.getpid(), self.threads_started)
        marks = self.thread_marks[worker_id] = MemoryMarks()
        slot = Slot(
            options=self.backend_options,
            backend=self.options.backend,
            queues=self.options.queue_names,
            worker_id=worker_id,
            # Its own event: a slot whose recorder fails stops alone.
            stop=threading.Event(),
            burst=self.options.burst,
            capabilities=self.options.capabilities,
            marks=marks,
            recycling=self.options.recycling,
        )
        thread = threading.Thread(target=slot.run, name=f"slot-{index}", daemon=True)
        thread.start()
        return thread, slot

    def run(self, tend: Callable[[], None], wait_at_most: Callable[[float], float]) -> int:
        """Start the slots and watch them until all are done; return the exit code.

        ``tend`` runs the supervisor's own duties at each pass, and
        ``wait_at_most`` shortens a wait for the next one due.
        """
        self.threads = [self._start_thread(i) for i in range(self.options.concurrency)]
        while self._threads_working():
            self.state.wake.wait(wait_at_most(WATCH_SECONDS))
            self.state.wake.clear()
            tend()
            for index, (thread, slot) in enumerate(self.threads):
                if slot.abandoned:
                    # Given up after a hard timeout: the thread may run on,
                    # but the slot's work was handed back. Start a fresh one,
                    # unless the worker is stopping: then nothing new starts.
                    if self.state.requested_at is None:
                        self.thread_marks.pop(slot.worker_id, None)
                        self.threads[index] = self._start_thread(index)
                    continue
                if slot.recycled and not thread.is_alive():
                    # It stopped after its task limit: a fresh thread, worker
                    # id and connections (the process and its memory stay).
                    if self.state.requested_at is None:
                        self._recover_thread_slot(slot)
                        self.threads[index] = self._start_thread(index)
                    continue
                if thread.is_alive() or self.state.requested_at is not None or self.options.burst:
                    continue
                logger.error(
                    "slot %s stopped unexpectedly; replacing it",
                    slot.worker_id,
                    extra={"action": "slot_died", "worker_id": slot.worker_id},
                )
                self._recover_thread_slot(slot)
                self.threads[index] = self._start_thread(index)
            if self._must_abandon_threads():
                # A thread cannot be interrupted: record what each slot finished,
                # hand back the rest, and leave; daemon threads end with us.
                for _thread, slot in self.threads:
                    slot.abandon()
                return 1
        return 0

    def _threads_working(self) -> bool:
        """Whether a slot thread runs, or one that was recycled awaits its replacement."""
        return any(
            (thread.is_alive() and not slot.abandoned)
            or (slot.recycled and self.state.requested_at is None)
            for thread, slot in self.threads
        )

    def _must_abandon_threads(self) -> bool:
        if self.state.requested_at is None:
            return False
        waited = time.monotonic() - self.state.requested_at
        return self.state.forced or waited >= self.backend_options.shutdown_grace_seconds
