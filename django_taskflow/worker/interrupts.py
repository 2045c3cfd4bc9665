"""Interrupts reach only the task's own code: time limits and forced stops.

The runner tells the slot when the task's code (its middleware and body)
starts and ends; this module keeps that flag, starts and stops the
attempt's ``Watchdog``, and delivers an interrupt only while the flag is
set. A hard time limit raises ``HardTimeLimitExceeded`` in the
slot's main thread: in a process slot through ``SIGALRM``, in a thread
slot as an asynchronous exception. Either lands between two bytecodes. An
interrupt that arrives as the task's code returns is discarded: the
attempt ended in time after all, and its result stands. A cancelled task
still running at the end of its grace period is interrupted the same way,
with ``TaskCancelled``.
"""

from __future__ import annotations

import logging
import signal
import threading
import uuid
from collections.abc import Callable
from datetime import datetime
from types import FrameType
from typing import Any

from django.db import connections
from django.db.backends.base.base import BaseDatabaseWrapper

from django_taskflow import models, recovery, registry
from django_taskflow.claim import ClaimedTask
from django_taskflow.db import dialect_for
from django_taskflow.exceptions import (
    ForcedStop,
    HardTimeLimitExceeded,
    TaskCancelled,
    UnknownTask,
)
from django_taskflow.states import AttemptOutcome, Status
from django_taskflow.worker.watchdog import Watchdog, clear_pending_interrupt, raise_in_thread

logger = logging.getLogger(__name__)


class Interrupts:
    """Knows whether the task's own code runs, and interrupts only that."""

    def __init__(
        self,
        *,
        name: str,
        database: str,
        in_process: bool,
        on_soft: Callable[[ClaimedTask], None],
        give_up: Callable[[ClaimedTask], bool],
    ) -> None:
        self.name = name
        self.database = database
        self.in_process = in_process
        self.on_soft = on_soft
        self.give_up = give_up
        self.lock = threading.Lock()
        self.in_user_code = False
        self.hard_limit_passed = False
        # Stopped for real after it was cancelled (TaskCancelled raised into it).
        self.cancel_forced = False
        self.task: ClaimedTask | None = None
        self.context: Any = None
        # Monotonic deadlines of cancelled tasks, by id: set by the lease
        # keeper's thread, read as an attempt begins.
        self.cancel_deadlines: dict[uuid.UUID, float] = {}
        self.thread_id = 0
        self.task_connection: BaseDatabaseWrapper | None = None
        self.watchdog: Watchdog | None = None

    def install(self, *, watch: bool) -> None:
        """Called in the thread that runs tasks, before the first one."""
        self.thread_id = threading.get_ident()
        self.task_connection = connections[self.database]  # this thread's: the task's
        if watch:
            self.watchdog = Watchdog(
                name=self.name,
                on_soft=self.on_soft,
                interrupt=self.hard_limit,
                give_up=self.give_up,
                stop_cancelled=self.stop_cancelled,
            )
        if self.in_process:
            signal.signal(signal.SIGALRM, self._on_hard_timeout_signal)

    def begin(self, task: ClaimedTask, context: Any) -> None:
        """The task's code starts: time it, and let interrupts in."""
        on_soft_timeout = None
        if self.watchdog is not None and (task.timeout_soft is not None):
            timeout = getattr(_definition_or_none(task), "timeout", None)
            on_soft_timeout = getattr(timeout, "on_soft_timeout", None)
        with self.lock:
            self.in_user_code = True
            self.hard_limit_passed = False
            self.cancel_forced = False
            self.task = task
            self.context = context
            # Under the lock: a cancel that arrives now either finds the
            # attempt begun (request_cancel) or its deadline is read here.
            if self.watchdog is not None:
                self.watchdog.begin(
                    task, context, on_soft_timeout, self.cancel_deadlines.get(task.id)
                )

    def end(self) -> None:
        """The task's code returned or raised: no interrupt may land after this."""
        try:
            with self.lock:
                self.in_user_code = False
                self.task = None
                if not self.in_process:
                    clear_pending_interrupt(self.thread_id)
        except (HardTimeLimitExceeded, ForcedStop, TaskCancelled):
            # The task's code is over: its outcome stands, and a forced stop
            # (its stop event is set) ends the slot once it is recorded.
            logger.debug("an interrupt arrived as the task's code returned")
        if self.watchdog is not None:
            self.watchdog.end()

    def stop(self) -> None:
        if self.watchdog is not None:
            self.watchdog.stop()

    def hard_limit(self, task: ClaimedTask) -> None:
        """From the watchdog: interrupt ``task`` if its code still runs, and
        cancel the query it may be waiting on (the interrupt alone would leave
        it running on the server, and the connection busy)."""
        with self.lock:
            if not self.in_user_code or self.task is not task:
                return
            self.hard_limit_passed = True
            if self.in_process:
                signal.pthread_kill(self.thread_id, signal.SIGALRM)
            else:
                raise_in_thread(self.thread_id)
            self._cancel_query()

    def request_cancel(self, task_id: uuid.UUID, deadline: float) -> None:
        """From the lease keeper: ``task_id`` was cancelled; stop it for real at
        ``deadline`` (monotonic) if it is still running then."""
        with self.lock:
            self.cancel_deadlines[task_id] = deadline
            task = self.task
            if (
                self.in_user_code
                and task is not None
                and task.id == task_id
                and self.watchdog is not None
            ):
                self.watchdog.cancel_at(task, self.context, deadline)

    def forget_cancels(self, keep: set[uuid.UUID]) -> None:
        """Drop the deadlines of tasks no longer asked to stop (they ended)."""
        with self.lock:
            for task_id in [t for t in self.cancel_deadlines if t not in keep]:
                del self.cancel_deadlines[task_id]

    def stop_cancelled(self, task: ClaimedTask) -> None:
        """From the watchdog: ``task`` was cancelled and its grace period is
        over; interrupt its code with ``TaskCancelled`` and cancel its query."""
        with self.lock:
            if not self.in_user_code or self.task is not task:
                return
            self.cancel_forced = True
            if self.in_process:
                signal.pthread_kill(self.thread_id, signal.SIGALRM)
            else:
                raise_in_thread(self.thread_id, TaskCancelled)
            self._cancel_query()

    @property
    def interrupted(self) -> bool:
        """Whether the attempt was interrupted from outside (its query perhaps cancelled)."""
        return self.hard_limit_passed or self.cancel_forced

    def _cancel_query(self) -> None:
        connection = self.task_connection
        raw = None if connection is None else connection.connection
        if raw is not None:
            dialect_for(self.database).cancel_query(raw)

    def stop_now(self) -> None:
        """From the forced-stop signal handler (main thread): interrupt the
        task's own code if it runs. Once the body has returned, its outcome
        (type check, validation, encoding) is decided and recorded instead."""
        if self.in_user_code:
            raise ForcedStop

    def _on_hard_timeout_signal(self, signum: int, frame: FrameType | None) -> None:
        # Runs in the main thread, which also sets in_user_code: no race.
        task = self.task
        if self.in_user_code and task is not None:
            if self.cancel_forced:
                raise TaskCancelled("cancelled; stopped at the end of its grace period")
            raise HardTimeLimitExceeded(
                f"the attempt ran past its hard time limit ({task.timeout_hard:g} s)"
            )


def end_attempt_without_result(
    database: str,
    worker_id: str,
    task: ClaimedTask,
    *,
    outcome: AttemptOutcome,
    now: datetime,
) -> None:
    """Record ``task``'s attempt as interrupted (or timed out), if ``worker_id`` still
    holds it: not finished meanwhile, nor recovered and claimed by another worker."""
    row = models.Task.objects.using(database).filter(pk=task.id).first()
    if (
        row is None
        or row.status != Status.RUNNING
        or row.worker_id != worker_id
        or row.attempts != task.attempt
    ):
        return
    message = None
    if outcome == AttemptOutcome.TIMED_OUT:
        limit = "" if task.timeout_hard is None else f" ({task.timeout_hard:g} s)"
        message = f"the attempt ran past its hard time limit{limit} and did not stop"
    recovery.end_attempt_abruptly(database, row, outcome=outcome, now=now, message=message)


def _definition_or_none(task: ClaimedTask) -> Any:
    try:
        return registry.resolve(task.task_path)
    except UnknownTask:
        return None
