"""``Worker``: starts the slots, watches them, and stops them cleanly.

Process pool: one forked child per slot, each with its own connection and
worker id. A child that dies is replaced at once and the tasks it held are
recovered straight away (not after their leases expire). Thread pool: the
slots run as threads of this process.

Signals: the first SIGTERM/SIGINT stops claiming and lets running tasks
finish within ``SHUTDOWN_GRACE_SECONDS``; a second signal, or the end of
the grace period, forces the stop, and what was running is handed back.
Slot processes ignore SIGTERM and SIGINT and obey only the supervisor's
relayed signals (SIGUSR1: drain, SIGUSR2: stop now), so a signal sent to
the whole process group (Ctrl-C, systemd, dumb-init) counts once, not twice.
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

from django.db import DatabaseError, connections
from django.utils import timezone

from django_taskflow import transitions
from django_taskflow.states import Outcome as AttemptOutcome
from django_taskflow.worker.options import WorkerOptions
from django_taskflow.worker.slot import EXIT_GIVEN_UP, Slot

logger = logging.getLogger(__name__)

# After a forced stop, how long a child may take before it is killed.
KILL_AFTER_SECONDS = 10.0
# A slot that dies sooner than this after starting is failing at start-up
# (a broken import, a missing table): replace it after a growing pause
# instead of in a tight loop.
QUICK_DEATH_SECONDS = 10.0
MAX_RESPAWN_PAUSE_SECONDS = 60.0


@dataclass(slots=True)
class _Child:
    index: int
    process: Any
    worker_id: str
    started_at: float = field(default_factory=time.monotonic)
    done: bool = False


@dataclass(slots=True)
class _StopState:
    requested_at: float | None = None
    forced: bool = False
    signals: int = 0
    wake: threading.Event = field(default_factory=threading.Event)


DRAIN_SIGNAL = signal.SIGUSR1
STOP_NOW_SIGNAL = signal.SIGUSR2
# Blocked across fork until the child has its own handlers, so a signal that
# arrives in between waits instead of killing it or running ours in it.
FORK_BLOCKED = {DRAIN_SIGNAL, STOP_NOW_SIGNAL, signal.SIGTERM, signal.SIGINT}


def _run_child(options: WorkerOptions, index: int) -> None:
    """Entry point of a forked slot process."""
    stop = threading.Event()
    worker_id = options.slot_id(os.getpid())
    slot: Slot | None = None

    def on_drain(signum: int, frame: FrameType | None) -> None:
        stop.set()

    def on_stop_now(signum: int, frame: FrameType | None) -> None:
        stop.set()
        if slot is not None:
            slot.stop_now()  # interrupts the running task's own code, if it runs

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(DRAIN_SIGNAL, on_drain)
    signal.signal(STOP_NOW_SIGNAL, on_stop_now)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, FORK_BLOCKED)
    slot = Slot(
        options=options.backend_options,
        backend=options.backend,
        queues=options.queue_names,
        worker_id=worker_id,
        stop=stop,
        burst=options.burst,
        in_process=True,
        parent_pid=os.getppid(),
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
        self.threads_started = 0
        self.quick_deaths: dict[int, int] = {}

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
            self._relay(DRAIN_SIGNAL)
            for _thread, slot in self.threads:
                slot.stop.set()
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
        self._relay(STOP_NOW_SIGNAL)

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
        signal.pthread_sigmask(signal.SIG_BLOCK, FORK_BLOCKED)
        try:
            process.start()
        finally:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, FORK_BLOCKED)
        assert process.pid is not None  # noqa: S101 - set by start()
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
                if code == EXIT_GIVEN_UP and self.state.requested_at is None:
                    logger.warning(
                        "slot %d (%s) was given up after a hard timeout; replacing it",
                        child.index,
                        child.worker_id,
                        extra={"action": "slot_replaced", "worker_id": child.worker_id},
                    )
                    self._recover(child.worker_id, AttemptOutcome.LOST)
                    if self._pause_before_respawn(child):
                        self.children[position] = self._start_child(child.index)
                elif self.state.requested_at is None and not (self.options.burst and code == 0):
                    logger.error(
                        "slot %d (%s) died with exit code %s; recovering its tasks and replacing it",
                        child.index,
                        child.worker_id,
                        code,
                        extra={"action": "slot_died", "worker_id": child.worker_id},
                    )
                    self._recover(child.worker_id, AttemptOutcome.LOST)
                    if self._pause_before_respawn(child):
                        self.children[position] = self._start_child(child.index)
                elif code != 0:
                    exit_code = 1
                    self._recover(child.worker_id, AttemptOutcome.INTERRUPTED)
            self._escalate()
        connections.close_all()
        # A forced stop is not a clean one: tell process managers so.
        return 1 if self.state.forced else exit_code

    def _pause_before_respawn(self, child: _Child) -> bool:
        """Wait longer each time a slot dies young; say whether to start it again."""
        if child.process.exitcode == EXIT_GIVEN_UP:
            self.quick_deaths[child.index] = 0  # its task's fault, not a start-up failure
        elif time.monotonic() - child.started_at < QUICK_DEATH_SECONDS:
            self.quick_deaths[child.index] = self.quick_deaths.get(child.index, 0) + 1
        else:
            self.quick_deaths[child.index] = 0
        deaths = self.quick_deaths[child.index]
        if deaths:
            pause = min(2.0 ** (deaths - 1), MAX_RESPAWN_PAUSE_SECONDS)
            logger.warning(
                "slot %d died %d times soon after starting; restarting it in %.0f s",
                child.index,
                deaths,
                pause,
                extra={"action": "slot_restart_delayed"},
            )
            deadline = time.monotonic() + pause
            while self.state.requested_at is None and time.monotonic() < deadline:
                self.state.wake.wait(deadline - time.monotonic())
                self.state.wake.clear()
        return self.state.requested_at is None

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
        except DatabaseError as exc:
            # Its leases will expire, and any worker then recovers the tasks.
            logger.warning(
                "could not recover the tasks of %s now (%s); their leases will expire",
                worker_id,
                exc,
                extra={"action": "recovery_deferred", "worker_id": worker_id},
            )
        finally:
            if self.options.pool == "process":
                connections.close_all()  # nothing open across the next fork

    def _start_thread(self, index: int) -> tuple[threading.Thread, Slot]:
        self.threads_started += 1
        slot = Slot(
            options=self.backend_options,
            backend=self.options.backend,
            queues=self.options.queue_names,
            worker_id=self.options.slot_id(os.getpid(), self.threads_started),
            # Its own event: a slot whose recorder fails stops alone.
            stop=threading.Event(),
            burst=self.options.burst,
        )
        thread = threading.Thread(target=slot.run, name=f"slot-{index}", daemon=True)
        thread.start()
        return thread, slot

    def _run_threads(self) -> int:
        self.threads = [self._start_thread(i) for i in range(self.options.concurrency)]
        while any(thread.is_alive() and not slot.abandoned for thread, slot in self.threads):
            self.state.wake.wait(0.2)
            self.state.wake.clear()
            for index, (thread, slot) in enumerate(self.threads):
                if slot.abandoned:
                    # Given up after a hard timeout: the thread may run on,
                    # but the slot's work was handed back; start a fresh one.
                    self.threads[index] = self._start_thread(index)
                    continue
                if thread.is_alive() or self.state.requested_at is not None or self.options.burst:
                    continue
                logger.error(
                    "slot %s stopped unexpectedly; replacing it",
                    slot.worker_id,
                    extra={"action": "slot_died", "worker_id": slot.worker_id},
                )
                self._recover(slot.worker_id, AttemptOutcome.LOST)
                self.threads[index] = self._start_thread(index)
            if self._must_abandon_threads():
                # A thread cannot be interrupted: record what each slot finished,
                # hand back the rest, and leave; daemon threads end with us.
                for _thread, slot in self.threads:
                    slot.abandon()
                return 1
        return 0

    def _must_abandon_threads(self) -> bool:
        if self.state.requested_at is None:
            return False
        waited = time.monotonic() - self.state.requested_at
        return self.state.forced or waited >= self.backend_options.shutdown_grace_seconds
