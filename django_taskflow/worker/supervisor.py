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
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from types import FrameType
from typing import Any

from django.db import DatabaseError, connections
from django.utils import timezone

from django_taskflow import recovery
from django_taskflow.states import AttemptOutcome
from django_taskflow.worker.options import WorkerOptions
from django_taskflow.worker.presence import Identity, Presence, SlotInfo
from django_taskflow.worker.recycling import EXIT_RECYCLED
from django_taskflow.worker.respawn import RespawnSchedule
from django_taskflow.worker.retention_duty import RetentionDuty
from django_taskflow.worker.running_table import (
    Mark,
    MemoryMarks,
    SharedRunningTable,
    capacity_for,
    started_attempts,
)
from django_taskflow.worker.scheduler_duty import SchedulerDuty
from django_taskflow.worker.slot import EXIT_GIVEN_UP, Slot
from django_taskflow.worker.wakeup import SharedListener, WakePipe, shares_listener
from django_taskflow.worker.watchdog import HARD_GRACE_SECONDS

logger = logging.getLogger(__name__)

# After a forced stop, how long a child may take before it is killed.
KILL_AFTER_SECONDS = 10.0
# How often the watch loop looks at its slots when nothing wakes it.
WATCH_SECONDS = 0.2
# How often the supervisor reads the running table for overdue attempts.
LIMIT_CHECK_SECONDS = 0.5
# Past a task's hard limit plus the slot's own grace, how long the supervisor
# waits before killing the slot from outside (the slot's watchdog goes first).
OUTSIDE_GRACE_SECONDS = 1.0


@dataclass(slots=True)
class _Child:
    index: int
    process: Any
    worker_id: str
    started_at: float = field(default_factory=time.monotonic)
    done: bool = False
    # The mark of the attempt the supervisor killed this slot for (hard limit).
    overdue: Mark | None = None
    # Killed for a task that did not stop after it was cancelled.
    killed_for_cancel: bool = False


@dataclass(slots=True)
class _StopState:
    requested_at: float | None = None
    forced: bool = False
    signals: int = 0
    # A pipe, not an event: the watch loop waits on it and the LISTEN socket at once.
    wake: WakePipe = field(default_factory=WakePipe)


DRAIN_SIGNAL = signal.SIGUSR1
STOP_NOW_SIGNAL = signal.SIGUSR2
# Blocked across fork until the child has its own handlers, so a signal that
# arrives in between waits instead of killing it or running ours in it.
FORK_BLOCKED = {DRAIN_SIGNAL, STOP_NOW_SIGNAL, signal.SIGTERM, signal.SIGINT}


def _run_child(
    options: WorkerOptions,
    index: int,
    table: SharedRunningTable,
    listener: SharedListener | None,
) -> None:
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
        capabilities=options.capabilities,
        in_process=True,
        parent_pid=os.getppid(),
        marks=table.writer(index),
        waiter=listener.waiter_for(index, stop) if listener is not None else None,
        cancel_poke=listener.cancel_pipes[index] if listener is not None else None,
        recycling=options.recycling,
    )
    slot.run()
    if slot.recycled:
        sys.exit(EXIT_RECYCLED)


class Worker:
    """Runs ``options.concurrency`` slots until stopped (or drained, with burst)."""

    def __init__(self, options: WorkerOptions) -> None:
        self.options = options
        self.backend_options = options.backend_options
        self.state = _StopState()
        self.children: list[_Child] = []
        self.threads: list[tuple[threading.Thread, Slot]] = []
        self.threads_started = 0
        self.respawns = RespawnSchedule()
        self.thread_marks: dict[str, MemoryMarks] = {}  # thread slot's worker id -> marks
        self.failed_duty = False
        self.next_limit_check = 0.0
        # Created before the slots are forked, so that they share it.
        self.table = SharedRunningTable(
            options.concurrency, capacity_for(self.backend_options.batch_size)
        )
        # Its pipes too; its LISTEN connection opens in the watch loop.
        self.listener = (
            SharedListener(
                database=self.backend_options.database,
                slots=options.concurrency,
                on_cancel=self._on_cancel_notice,
            )
            if shares_listener(self.backend_options.database, options.pool)
            else None
        )
        # (slot index, task id) -> when to kill the slot if that cancelled
        # task's body still runs (monotonic); known from NOTIFY only.
        self.cancel_deadlines: dict[tuple[int, uuid.UUID], float] = {}
        # Schedules fire from this loop, on the supervisor's own connection.
        self.scheduler = SchedulerDuty(self.backend_options.database) if options.scheduler else None
        self.presence_failed = False
        # This worker's WorkerProcess row, kept from this loop too.
        self.presence = Presence(
            Identity.of(options, os.getpid()),
            database=self.backend_options.database,
            heartbeat_seconds=self.backend_options.heartbeat_seconds,
        )
        # OPTIONS["RETENTION"] and expired deduplication keys: prune from this
        # loop too, when this worker has the turn.
        self.retention = (
            RetentionDuty(
                database=self.backend_options.database,
                backend=options.backend,
                retention_by_status=self.backend_options.retention,
                holder=options.slot_id(os.getpid()),
            )
            if not options.burst
            else None
        )

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

    def _drain(self) -> None:
        """Stop claiming and let running tasks finish, as the first signal does."""
        if self.state.requested_at is None:
            self.state.requested_at = time.monotonic()
            self._relay(DRAIN_SIGNAL)
            for _thread, slot in self.threads:
                slot.stop.set()

    # -- scheduler -----------------------------------------------------------

    def _wait_at_most(self, seconds: float) -> float:
        if self.state.requested_at is not None:
            return seconds
        if self.retention is not None:
            seconds = min(seconds, self.retention.due_in())
        if self.scheduler is None:
            return seconds
        return min(seconds, self.scheduler.due_in())

    def _prune_if_due(self) -> None:
        """Prune one chunk when this worker holds the retention turn (never raises)."""
        if self.retention is not None and self.state.requested_at is None:
            self.retention.run_if_due()

    def _tick_scheduler(self) -> None:
        """Fire due schedules; a fault in the scheduler's own code stops the worker."""
        if self.scheduler is None or self.state.requested_at is not None:
            return
        try:
            self.scheduler.run_if_due()
        except Exception:
            # Not a lost connection (the duty handles those): a bug. A worker
            # that silently stopped firing schedules is worse than one that stops.
            logger.exception(
                "the scheduler failed; the worker stops", extra={"action": "scheduler_died"}
            )
            self.scheduler = None
            self.failed_duty = True
            self._drain()

    def _relay(self, signum: int) -> None:
        for child in self.children:
            if not child.done and child.process.pid:
                with contextlib.suppress(ProcessLookupError):  # it just exited
                    os.kill(child.process.pid, signum)

    def _force(self) -> None:
        self.state.forced = True
        self.state.requested_at = self.state.requested_at or time.monotonic()
        self._relay(STOP_NOW_SIGNAL)

    def _on_cancel_notice(self, worker_id: str, task_id: str) -> None:
        """A task one of our slots holds was cancelled: poke that slot; and
        kill it later if the task's body ignores both request and interrupt."""
        for child in self.children:
            if child.worker_id == worker_id and not child.done:
                assert self.listener is not None  # noqa: S101 - it called us
                self.listener.cancel_pipes[child.index].set()
                try:
                    key = (child.index, uuid.UUID(task_id))
                except ValueError:
                    return
                self.cancel_deadlines[key] = (
                    time.monotonic()
                    + self.backend_options.cancel_grace_seconds
                    + HARD_GRACE_SECONDS
                    + OUTSIDE_GRACE_SECONDS
                )
                return

    # -- running -------------------------------------------------------------

    def run(self) -> int:
        """Run until stopped; return the process exit code."""
        previous = {
            signum: signal.signal(signum, self._on_signal)
            for signum in (signal.SIGTERM, signal.SIGINT)
        }
        try:
            if self.scheduler is not None and self.options.burst:
                # A burst worker fires what is due once, then drains it.
                self._tick_scheduler()
                self.scheduler = None
            code = self._run_threads() if self.options.pool == "thread" else self._run_processes()
            return 1 if self.failed_duty else code
        finally:
            self.presence.remove()
            connections.close_all()
            for signum, handler in previous.items():
                signal.signal(signum, handler)
            if self.listener is not None:
                self.listener.close()
            self.state.wake.close()

    def _start_child(self, index: int) -> None:
        """Fork slot ``index`` unless the worker is stopping; it takes position ``index``."""
        # Blocked until the child is registered, so that a stop signal either
        # comes first (nothing starts) or finds the child to relay to.
        signal.pthread_sigmask(signal.SIG_BLOCK, FORK_BLOCKED)
        try:
            if self.state.requested_at is not None:
                return
            # A forked child must not share the parent's database sockets.
            connections.close_all()
            if self.listener is not None:
                self.listener.disconnect()
            self.table.clear(index)
            process = multiprocessing.get_context("fork").Process(
                target=_run_child,
                args=(self.options, index, self.table, self.listener),
                name=f"taskworker-{index}",
            )
            process.start()
            assert process.pid is not None  # noqa: S101 - set by start()
            child = _Child(
                index=index, process=process, worker_id=self.options.slot_id(process.pid)
            )
            if index < len(self.children):
                self.children[index] = child
            else:
                self.children.append(child)
        finally:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, FORK_BLOCKED)
        logger.info(
            "slot %d started as %s",
            index,
            child.worker_id,
            extra={"action": "slot_started", "worker_id": child.worker_id},
        )

    def _run_processes(self) -> int:
        for index in range(self.options.concurrency):
            self._start_child(index)
        exit_code = 0
        while not all(child.done for child in self.children) or self._respawns_due():
            timeout = self._wait_at_most(self.respawns.wait_at_most(WATCH_SECONDS))
            if self.listener is not None:
                self.listener.wait(timeout, self.state.wake)
            else:
                self.state.wake.wait(timeout)
            self.state.wake.clear()
            self._tick_scheduler()
            self._keep_presence(self._process_slots, self._running_in_processes)
            self._prune_if_due()
            self._enforce_hard_limits()
            for child in self.children:
                if child.done or child.process.is_alive():
                    continue
                exit_code = max(exit_code, self._on_child_exit(child))
            self._respawn_due_slots()
            self._escalate()
        connections.close_all()
        if self.listener is not None:
            self.listener.disconnect()
        # A forced stop is not a clean one: tell process managers so.
        return 1 if self.state.forced else exit_code

    # -- presence ------------------------------------------------------------

    def _keep_presence(
        self, slots: Callable[[], list[SlotInfo]], running: Callable[[], list[str]]
    ) -> None:
        """Write this worker's row when due; a fault in its own code stops the worker."""
        if self.presence_failed:
            return
        try:
            self.presence.run_if_due(slots(), running)
        except Exception:
            # Not a lost connection (Presence handles those): a bug. A worker
            # whose row lapses reads as dead to operators and to recovery.
            logger.exception(
                "the worker heartbeat failed; the worker stops",
                extra={"action": "worker_heartbeat_died"},
            )
            self.presence_failed = self.failed_duty = True
            self._drain()

    def _process_slots(self) -> list[SlotInfo]:
        return [
            SlotInfo(child.index, child.process.pid, child.worker_id)
            for child in self.children
            if not child.done
        ]

    def _running_in_processes(self) -> list[str]:
        """The tasks the slot processes have started and not yet recorded."""
        return [
            str(mark.task_id)
            for child in self.children
            if not child.done
            for mark in self.table.read(child.index)
        ]

    def _thread_slots(self) -> list[SlotInfo]:
        pid = os.getpid()
        return [
            SlotInfo(index, pid, slot.worker_id)
            for index, (thread, slot) in enumerate(self.threads)
            if thread.is_alive() and not slot.abandoned
        ]

    def _running_in_threads(self) -> list[str]:
        return [
            str(mark.task_id) for marks in list(self.thread_marks.values()) for mark in marks.read()
        ]

    def _on_child_exit(self, child: _Child) -> int:
        """Recover what a finished slot held; schedule its replacement if needed.

        Returns the exit code the worker should report for it.
        """
        child.process.join()
        code = child.process.exitcode
        child.done = True
        stopping = self.state.requested_at is not None
        if child.overdue is not None and child.killed_for_cancel:
            logger.error(
                "slot %d (%s) was killed: task %s was cancelled and did not stop",
                child.index,
                child.worker_id,
                child.overdue.task_id,
                extra={"action": "slot_killed", "worker_id": child.worker_id},
            )
            self._recover(child, AttemptOutcome.LOST)
            self.respawns.schedule(child.index, lived=None)
        elif child.overdue is not None:
            logger.error(
                "slot %d (%s) was killed: task %s ran past its hard time limit in code "
                "that could not be interrupted",
                child.index,
                child.worker_id,
                child.overdue.task_id,
                extra={"action": "slot_killed", "worker_id": child.worker_id},
            )
            self._recover(child, AttemptOutcome.LOST)
            self.respawns.schedule(child.index, lived=None)
        elif code == EXIT_RECYCLED:
            # It handed back what it held, so this finds nothing, unless its
            # last outcome could not be written: then that task is recovered.
            self._recover(child, AttemptOutcome.LOST)
            if not stopping:
                self.respawns.schedule(child.index, lived=None)
        elif code == EXIT_GIVEN_UP and not stopping:
            logger.warning(
                "slot %d (%s) was given up after a hard timeout; replacing it",
                child.index,
                child.worker_id,
                extra={"action": "slot_replaced", "worker_id": child.worker_id},
            )
            self._recover(child, AttemptOutcome.LOST)
            self.respawns.schedule(child.index, lived=None)
        elif not stopping and not (self.options.burst and code == 0):
            logger.error(
                "slot %d (%s) died with exit code %s; recovering its tasks and replacing it",
                child.index,
                child.worker_id,
                code,
                extra={"action": "slot_died", "worker_id": child.worker_id},
            )
            self._recover(child, AttemptOutcome.LOST)
            self.respawns.schedule(child.index, lived=time.monotonic() - child.started_at)
        elif code != 0:
            self._recover(child, AttemptOutcome.INTERRUPTED)
            return 1
        else:
            # A clean exit hands everything back, so this finds nothing, unless
            # a task's own code ended the process (os._exit(0)) mid-run.
            self._recover(child, AttemptOutcome.LOST)
        return 0

    def _respawns_due(self) -> bool:
        return self.state.requested_at is None and bool(self.respawns)

    def _respawn_due_slots(self) -> None:
        if self.state.requested_at is not None:
            self.respawns.clear()  # no slot starts after the first signal
            return
        for index in self.respawns.take_due():
            self._start_child(index)

    def _enforce_hard_limits(self) -> None:
        """Kill a slot whose task runs past its hard limit and would not stop.

        The slot's own watchdog interrupts the task at its hard limit and
        gives up the slot ``HARD_GRACE_SECONDS`` later; code that holds the
        GIL (a regular expression, a C extension) stops both. The supervisor
        then kills the slot from outside, records the attempt ``timed_out``
        and replaces the slot.
        """
        now = time.monotonic()
        if now < self.next_limit_check:
            return
        self.next_limit_check = now + LIMIT_CHECK_SECONDS
        running: set[tuple[int, uuid.UUID]] = set()
        for child in self.children:
            if child.done or child.overdue is not None:
                continue
            for mark in self.table.read(child.index):
                key = (child.index, mark.task_id)
                running.add(key)
                cancel_deadline = self.cancel_deadlines.get(key)
                ignores_cancel = (
                    cancel_deadline is not None and mark.body_running and now >= cancel_deadline
                )
                if ignores_cancel or mark.overdue(now, HARD_GRACE_SECONDS + OUTSIDE_GRACE_SECONDS):
                    child.overdue = mark
                    child.killed_for_cancel = ignores_cancel
                    with contextlib.suppress(ProcessLookupError):  # it just exited
                        os.kill(child.process.pid, signal.SIGKILL)
                    break
        for key in [
            k for k, due in self.cancel_deadlines.items() if k not in running and due < now
        ]:
            del self.cancel_deadlines[key]

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

    def _recover(self, child: _Child, outcome: AttemptOutcome) -> None:
        """End the attempts of a slot process that is gone, by its running marks."""
        marks = self.table.read(child.index)
        overdue = child.overdue
        try:
            if overdue is not None:
                recovery.time_out(
                    self.backend_options.database,
                    child.worker_id,
                    overdue.task_id,
                    attempt=overdue.attempt,
                    hard_limit=overdue.hard_limit,
                    now=timezone.now(),
                )
            recovery.release_worker(
                self.backend_options.database,
                child.worker_id,
                outcome=outcome,
                now=timezone.now(),
                started=started_attempts(marks),
            )
        except DatabaseError as exc:
            # Its leases will expire, and any worker then recovers the tasks.
            logger.warning(
                "could not recover the tasks of %s now (%s); their leases will expire",
                child.worker_id,
                exc,
                extra={"action": "recovery_deferred", "worker_id": child.worker_id},
            )
        finally:
            connections.close_all()  # nothing open across the next fork

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

    def _run_threads(self) -> int:
        self.threads = [self._start_thread(i) for i in range(self.options.concurrency)]
        while self._threads_working():
            self.state.wake.wait(self._wait_at_most(WATCH_SECONDS))
            self.state.wake.clear()
            self._tick_scheduler()
            self._keep_presence(self._thread_slots, self._running_in_threads)
            self._prune_if_due()
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
