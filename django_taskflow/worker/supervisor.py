"""``Worker``: starts the slots, watches them, and stops them cleanly.

Process pool: one forked child per slot, each with its own connection and
worker id. A child that dies is replaced at once and the tasks it held are
recovered straight away (not after their leases expire). Thread pool: the
slots run as threads of this process.

Signals: the first SIGTERM/SIGINT stops claiming and lets running tasks
finish within ``SHUTDOWN_GRACE_SECONDS``; a second signal, or the end of
the grace period, forces the stop, and what was running is handed back.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import signal
import threading
import time
from dataclasses import dataclass, field
from types import FrameType
from typing import Any

from django.db import connections
from django.utils import timezone

from django_taskflow import transitions
from django_taskflow.states import Outcome as AttemptOutcome
from django_taskflow.worker.options import WorkerOptions
from django_taskflow.worker.slot import ForcedStop, Slot

logger = logging.getLogger(__name__)

# After a forced stop, how long a child may take before it is killed.
KILL_AFTER_SECONDS = 10.0


@dataclass(slots=True)
class _Child:
    index: int
    process: Any
    worker_id: str
    done: bool = False


@dataclass(slots=True)
class _StopState:
    requested_at: float | None = None
    forced: bool = False
    signals: int = 0
    wake: threading.Event = field(default_factory=threading.Event)


def _run_child(options: WorkerOptions, index: int) -> None:
    """Entry point of a forked slot process."""
    stop = threading.Event()
    worker_id = options.slot_id(os.getpid())
    slot: Slot | None = None

    def on_term(signum: int, frame: FrameType | None) -> None:
        if not stop.is_set():
            stop.set()
            return
        # Second request: interrupt the running task, if any.
        if slot is not None and slot.current is not None:
            raise ForcedStop

    # The supervisor relays terminal Ctrl-C as SIGTERM; ignoring SIGINT here
    # keeps one Ctrl-C from counting twice.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, on_term)
    slot = Slot(
        options=options.backend_options,
        queues=options.queue_names,
        worker_id=worker_id,
        stop=stop,
        burst=options.burst,
    )
    slot.run()


class Worker:
    """Runs ``options.concurrency`` slots until stopped (or drained, with burst)."""

    def __init__(self, options: WorkerOptions) -> None:
        self.options = options
        self.backend_options = options.backend_options
        self.state = _StopState()
        self.children: list[_Child] = []
        self.threads: list[tuple[threading.Thread, Slot]] = []
        self.thread_stop = threading.Event()

    # -- signals -------------------------------------------------------------

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        self.state.signals += 1
        if self.state.requested_at is None:
            logger.info(
                "received %s: finishing running tasks (grace %.0f s), claiming no more",
                signal.Signals(signum).name,
                self.backend_options.shutdown_grace_seconds,
                extra={"action": "worker_stopping"},
            )
            self.state.requested_at = time.monotonic()
            self._relay(signal.SIGTERM)
            self.thread_stop.set()
        elif not self.state.forced:
            logger.warning("second signal: stopping now", extra={"action": "worker_forced_stop"})
            self._force()
        self.state.wake.set()

    def _relay(self, signum: int) -> None:
        for child in self.children:
            if not child.done and child.process.pid:
                with contextlib.suppress(ProcessLookupError):  # it just exited
                    os.kill(child.process.pid, signum)

    def _force(self) -> None:
        self.state.forced = True
        self.state.requested_at = self.state.requested_at or time.monotonic()
        self._relay(signal.SIGTERM)

    # -- running -------------------------------------------------------------

    def run(self) -> int:
        """Run until stopped; return the process exit code."""
        previous = {
            signum: signal.signal(signum, self._on_signal)
            for signum in (signal.SIGTERM, signal.SIGINT)
        }
        try:
            if self.options.pool == "thread":
                return self._run_threads()
            return self._run_processes()
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)

    def _start_child(self, index: int) -> _Child:
        # A forked child must not share the parent's database sockets.
        connections.close_all()
        context = multiprocessing.get_context("fork")
        process = context.Process(
            target=_run_child, args=(self.options, index), name=f"taskworker-{index}"
        )
        process.start()
        child = _Child(index=index, process=process, worker_id=self.options.slot_id(process.pid))
        logger.info(
            "slot %d started as %s",
            index,
            child.worker_id,
            extra={"action": "slot_started", "worker_id": child.worker_id},
        )
        return child

    def _run_processes(self) -> int:
        self.children = [self._start_child(i) for i in range(self.options.concurrency)]
        exit_code = 0
        while not all(child.done for child in self.children):
            self.state.wake.wait(0.2)
            self.state.wake.clear()
            for position, child in enumerate(self.children):
                if child.done or child.process.is_alive():
                    continue
                child.process.join()
                code = child.process.exitcode
                child.done = True
                if self.state.requested_at is None and not (self.options.burst and code == 0):
                    logger.error(
                        "slot %d (%s) died with exit code %s; recovering its tasks and replacing it",
                        child.index,
                        child.worker_id,
                        code,
                        extra={"action": "slot_died", "worker_id": child.worker_id},
                    )
                    self._recover(child.worker_id, AttemptOutcome.LOST)
                    self.children[position] = self._start_child(child.index)
                elif code != 0:
                    exit_code = 1 if not self.state.forced else exit_code
                    self._recover(child.worker_id, AttemptOutcome.INTERRUPTED)
            self._escalate()
        connections.close_all()
        return exit_code

    def _escalate(self) -> None:
        """Force the stop after the grace period; kill what ignores it."""
        if self.state.requested_at is None:
            return
        waited = time.monotonic() - self.state.requested_at
        grace = self.backend_options.shutdown_grace_seconds
        if not self.state.forced and waited >= grace:
            logger.warning(
                "grace period over: stopping now", extra={"action": "worker_forced_stop"}
            )
            self._force()
        if self.state.forced and waited >= grace + KILL_AFTER_SECONDS:
            self._relay(signal.SIGKILL)

    def _recover(self, worker_id: str, outcome: AttemptOutcome) -> None:
        try:
            transitions.release_worker(
                self.backend_options.database, worker_id, outcome=outcome, now=timezone.now()
            )
        finally:
            connections.close_all()

    def _run_threads(self) -> int:
        pid = os.getpid()
        for index in range(self.options.concurrency):
            slot = Slot(
                options=self.backend_options,
                queues=self.options.queue_names,
                worker_id=self.options.slot_id(pid, index),
                stop=self.thread_stop,
                burst=self.options.burst,
            )
            thread = threading.Thread(target=slot.run, name=f"slot-{index}", daemon=True)
            thread.start()
            self.threads.append((thread, slot))
        while any(thread.is_alive() for thread, _ in self.threads):
            self.state.wake.wait(0.2)
            self.state.wake.clear()
            self._escalate_threads()
        return 0

    def _escalate_threads(self) -> None:
        # A thread cannot be interrupted: on a forced stop, hand back what each
        # slot holds and leave; the daemon threads end with the process.
        if self.state.requested_at is None:
            return
        waited = time.monotonic() - self.state.requested_at
        if self.state.forced or waited >= self.backend_options.shutdown_grace_seconds:
            for _thread, slot in self.threads:
                self._recover(slot.worker_id, AttemptOutcome.INTERRUPTED)
            os._exit(0)
