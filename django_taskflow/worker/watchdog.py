"""Soft and hard time limits, enforced from a side thread of each slot.

At the soft limit the task's ``on_soft_timeout(context)`` runs (here, not in
the task) and a ``soft_timeout`` event is recorded, once per attempt. At
the hard limit the task is interrupted with ``HardTimeLimitExceeded``: in a
process slot by a signal to the main thread, in a thread slot by an
asynchronous exception. Either lands between two Python bytecodes, so code
blocked in C may not see it; if the attempt is still running
``HARD_GRACE_SECONDS`` later, the watchdog records it as timed out, hands
back what the slot holds and gives the slot up (the process exits; a thread
is abandoned), and the supervisor starts a fresh one.

A cancelled attempt that has not stopped by the end of its cancel grace
period is stopped the same way, with ``TaskCancelled``.
"""

from __future__ import annotations

import ctypes
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django_taskflow.claim import ClaimedTask
from django_taskflow.exceptions import HardTimeLimitExceeded

logger = logging.getLogger(__name__)

HARD_GRACE_SECONDS = 3.0


@dataclass(slots=True)
class _Attempt:
    task: ClaimedTask
    context: Any
    on_soft_timeout: Callable[[Any], Any] | None
    soft_at: float | None
    hard_at: float | None
    give_up_at: float | None = None
    soft_fired: bool = False
    # When a cancelled attempt that has not stopped is stopped for real.
    cancel_at: float | None = None


class Watchdog:
    """Watches the running attempt of one slot."""

    def __init__(
        self,
        *,
        name: str,
        on_soft: Callable[[ClaimedTask], None],
        interrupt: Callable[[ClaimedTask], None],
        give_up: Callable[[ClaimedTask], bool],
        stop_cancelled: Callable[[ClaimedTask], None] | None = None,
    ) -> None:
        self.on_soft = on_soft
        self.interrupt = interrupt
        self.stop_cancelled = stop_cancelled
        self.give_up = give_up
        self.changed = threading.Condition()
        self.attempt: _Attempt | None = None
        self.stopped = False
        self.thread = threading.Thread(target=self._loop, name=f"watchdog-{name}", daemon=True)
        self.thread.start()

    def begin(
        self,
        task: ClaimedTask,
        context: Any,
        on_soft_timeout: Callable[[Any], Any] | None,
        cancel_at: float | None = None,
    ) -> None:
        """Start timing ``task``'s attempt (no-op for a task without limits
        and not cancelled)."""
        if task.timeout_soft is None and task.timeout_hard is None and cancel_at is None:
            return
        started = time.monotonic()
        with self.changed:
            self.attempt = _Attempt(
                task=task,
                context=context,
                on_soft_timeout=on_soft_timeout,
                soft_at=None if task.timeout_soft is None else started + task.timeout_soft,
                hard_at=None if task.timeout_hard is None else started + task.timeout_hard,
                cancel_at=cancel_at,
            )
            self.changed.notify()

    def cancel_at(self, task: ClaimedTask, context: Any, deadline: float) -> None:
        """Stop ``task``'s running attempt for real at ``deadline`` (monotonic),
        unless it ends first: it was cancelled."""
        with self.changed:
            attempt = self.attempt
            if attempt is None or attempt.task is not task:
                attempt = self.attempt = _Attempt(
                    task=task, context=context, on_soft_timeout=None, soft_at=None, hard_at=None
                )
            if attempt.cancel_at is None or deadline < attempt.cancel_at:
                attempt.cancel_at = deadline
            self.changed.notify()

    def end(self) -> None:
        """The attempt is over: stop timing it."""
        if self.attempt is None:
            return
        with self.changed:
            self.attempt = None
            self.changed.notify()

    def stop(self) -> None:
        with self.changed:
            self.stopped = True
            self.changed.notify()

    def _next_deadline(self, attempt: _Attempt) -> float | None:
        deadlines = [
            attempt.soft_at if not attempt.soft_fired else None,
            attempt.hard_at if attempt.give_up_at is None else attempt.give_up_at,
            attempt.cancel_at if attempt.give_up_at is None else None,
        ]
        due = [d for d in deadlines if d is not None]
        return min(due) if due else None

    def _loop(self) -> None:
        while True:
            with self.changed:
                while not self.stopped:
                    attempt = self.attempt
                    deadline = None if attempt is None else self._next_deadline(attempt)
                    wait = None if deadline is None else deadline - time.monotonic()
                    if wait is not None and wait <= 0:
                        break
                    self.changed.wait(wait)
                if self.stopped:
                    return
                attempt = self.attempt
            if attempt is not None:
                self._act(attempt)

    def _act(self, attempt: _Attempt) -> None:
        now = time.monotonic()
        if attempt.soft_at is not None and not attempt.soft_fired and now >= attempt.soft_at:
            attempt.soft_fired = True
            self._fire_soft(attempt)
        cancel_due = attempt.cancel_at is not None and now >= attempt.cancel_at
        if cancel_due and attempt.give_up_at is None and self.stop_cancelled is not None:
            attempt.give_up_at = now + HARD_GRACE_SECONDS
            logger.warning(
                "task %s did not stop within its cancel grace period; stopping it",
                attempt.task.id,
                extra={
                    "action": "cancel_forced",
                    "task_id": str(attempt.task.id),
                    "task_name": attempt.task.task_path,
                },
            )
            self.stop_cancelled(attempt.task)
        elif attempt.give_up_at is not None and now >= attempt.give_up_at and cancel_due:
            if self.give_up(attempt.task):
                logger.error(
                    "task %s ignored being stopped after it was cancelled; gave up its slot",
                    attempt.task.id,
                    extra={
                        "action": "slot_given_up",
                        "task_id": str(attempt.task.id),
                        "task_name": attempt.task.task_path,
                    },
                )
                self.stopped = True
        elif attempt.hard_at is not None and now >= attempt.hard_at:
            if attempt.give_up_at is None:
                attempt.give_up_at = now + HARD_GRACE_SECONDS
                logger.warning(
                    "task %s passed its hard time limit (%g s); interrupting it",
                    attempt.task.id,
                    attempt.task.timeout_hard,
                    extra={
                        "action": "hard_timeout",
                        "task_id": str(attempt.task.id),
                        "task_name": attempt.task.task_path,
                    },
                )
                self.interrupt(attempt.task)
            elif now >= attempt.give_up_at and self.give_up(attempt.task):
                logger.error(
                    "task %s ignored its hard time limit; gave up its slot",
                    attempt.task.id,
                    extra={
                        "action": "slot_given_up",
                        "task_id": str(attempt.task.id),
                        "task_name": attempt.task.task_path,
                    },
                )
                self.stopped = True

    def _fire_soft(self, attempt: _Attempt) -> None:
        logger.warning(
            "task %s passed its soft time limit (%g s)",
            attempt.task.id,
            attempt.task.timeout_soft,
            extra={
                "action": "soft_timeout",
                "task_id": str(attempt.task.id),
                "task_name": attempt.task.task_path,
            },
        )
        self.on_soft(attempt.task)
        if attempt.on_soft_timeout is not None:
            # Its own thread: a callback that blocks must not delay the hard limit.
            threading.Thread(
                target=_call_soft_callback,
                args=(attempt.on_soft_timeout, attempt.context, attempt.task),
                name=f"soft-timeout-{attempt.task.id}",
                daemon=True,
            ).start()


def _call_soft_callback(callback: Callable[[Any], Any], context: Any, task: ClaimedTask) -> None:
    try:
        callback(context)
    except Exception:
        logger.exception(
            "on_soft_timeout of task %s raised",
            task.id,
            extra={
                "action": "soft_timeout_callback_failed",
                "task_id": str(task.id),
                "task_name": task.task_path,
            },
        )


def clear_pending_interrupt(thread_id: int) -> None:
    """Cancel an asynchronous exception not yet delivered to ``thread_id``."""
    ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(thread_id), None)


def raise_in_thread(thread_id: int, error: type[BaseException] = HardTimeLimitExceeded) -> None:
    """Raise ``error`` (``HardTimeLimitExceeded``) in another thread at its next bytecode."""
    ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(thread_id), ctypes.py_object(error))
