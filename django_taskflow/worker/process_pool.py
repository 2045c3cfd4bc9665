"""The process pool: one forked slot process per position, watched by the supervisor.

A child that dies is replaced at once (or after a growing pause, when it
keeps dying young) and the tasks it held are recovered straight away, not
after their leases expire. A child whose task runs past its hard limit, or
ignores a cancel, in code that cannot be interrupted is killed from here.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import signal
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.db import DatabaseError, connections
from django.utils import timezone

from django_taskflow import recovery
from django_taskflow.encoding import encryption
from django_taskflow.states import AttemptOutcome
from django_taskflow.worker import slot_process
from django_taskflow.worker.options import WorkerOptions
from django_taskflow.worker.presence import SlotInfo
from django_taskflow.worker.recycling import EXIT_RECYCLED
from django_taskflow.worker.respawn import RespawnSchedule
from django_taskflow.worker.running_table import (
    Mark,
    SharedRunningTable,
    capacity_for,
    started_attempts,
)
from django_taskflow.worker.slot import EXIT_GIVEN_UP
from django_taskflow.worker.slot_process import DRAIN_SIGNAL, FORK_BLOCKED, STOP_NOW_SIGNAL
from django_taskflow.worker.stopping import WATCH_SECONDS, StopState
from django_taskflow.worker.wakeup import SharedListener, shares_listener
from django_taskflow.worker.watchdog import HARD_GRACE_SECONDS

# The supervisor's logger, as before these parts had modules of their own:
# operators' logging configuration names it.
logger = logging.getLogger("django_taskflow.worker.supervisor")

# After a forced stop, how long a child may take before it is killed.
KILL_AFTER_SECONDS = 10.0
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


class ProcessPool:
    """Forks, watches, replaces and, past every grace, kills the slot processes."""

    def __init__(self, options: WorkerOptions, state: StopState) -> None:
        self.options = options
        self.backend_options = options.backend_options
        self.state = state
        self.children: list[_Child] = []
        self.respawns = RespawnSchedule()
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

    def drain(self) -> None:
        """Tell every slot to stop claiming and finish what it runs."""
        self._relay(DRAIN_SIGNAL)

    def force(self) -> None:
        """Tell every slot to stop now, interrupting its task."""
        self._relay(STOP_NOW_SIGNAL)

    def close(self) -> None:
        if self.listener is not None:
            self.listener.close()

    def slots(self) -> list[SlotInfo]:
        return [
            SlotInfo(child.index, child.process.pid, child.worker_id)
            for child in self.children
            if not child.done
        ]

    def running(self) -> list[str]:
        """The tasks the slot processes have started and not yet recorded."""
        return [
            str(mark.task_id)
            for child in self.children
            if not child.done
            for mark in self.table.read(child.index)
        ]

    def run(self, tend: Callable[[], None], wait_at_most: Callable[[float], float]) -> int:
        """Start the slots and watch them until all are done; return the exit code.

        ``tend`` runs the supervisor's own duties at each pass, and
        ``wait_at_most`` shortens a wait for the next one due.
        """
        if self.options.backend_options.encryption_keys:
            encryption.import_cipher()
        for index in range(self.options.concurrency):
            self._start_child(index)
        exit_code = 0
        while not all(child.done for child in self.children) or self._respawns_due():
            timeout = wait_at_most(self.respawns.wait_at_most(WATCH_SECONDS))
            if self.listener is not None:
                self.listener.wait(timeout, self.state.wake)
            else:
                self.state.wake.wait(timeout)
            self.state.wake.clear()
            tend()
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

    def _relay(self, signum: int) -> None:
        for child in self.children:
            if not child.done and child.process.pid:
                with contextlib.suppress(ProcessLookupError):  # it just exited
                    os.kill(child.process.pid, signum)

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
                target=slot_process.run_slot_process,
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
            self.state.forced = True
            self.force()
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
