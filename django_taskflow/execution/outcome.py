"""Decide what follows an attempt: pure, no database.

Takes the attempt's facts and returns an :class:`Outcome` that
``transitions.py`` writes.
"""

from __future__ import annotations

import traceback as traceback_module
from dataclasses import dataclass
from datetime import datetime, timedelta

from django_taskflow.states import AttemptOutcome, OnLost, Status
from django_taskflow.text import storable_text


@dataclass(frozen=True, slots=True, kw_only=True)
class Outcome:
    """The decision after one attempt."""

    status: Status
    attempt_outcome: AttemptOutcome
    result_json: str | None = None
    retry_at: datetime | None = None
    error_class: str = ""
    error_message: str = ""
    traceback: str = ""
    error_value_json: str | None = None  # what a validator returned, as JSON
    # Steps the attempt spawned (context.spawn), as stored: created with a
    # successful outcome, in its transaction; dropped with any other.
    children: tuple[dict[str, object], ...] = ()

    @property
    def is_final(self) -> bool:
        return self.status != Status.QUEUED

    @property
    def event_kind(self) -> str:
        """The kind of the event that announces this outcome."""
        return "retrying" if self.status == Status.QUEUED else self.status.value


def describe(exc: BaseException) -> str:
    """``str(exc)``, storable, or a stand-in when the exception cannot be printed."""
    try:
        return storable_text(str(exc)[:10_000])
    except Exception as str_exc:  # an attempt must end in a transition regardless
        return f"<{type(exc).__name__}: str() failed with {type(str_exc).__name__}>"


def format_traceback(exc: BaseException) -> str:
    """The traceback as Python prints it, storable (see ``django_taskflow.text``)."""
    try:
        return storable_text("".join(traceback_module.format_exception(exc)))
    except Exception:  # same reason as describe()
        return storable_text("".join(traceback_module.format_tb(exc.__traceback__)))


def class_path(exc: BaseException) -> str:
    kind = type(exc)
    return storable_text(f"{kind.__module__}.{kind.__qualname__}")


def has_attempts_left(*, attempt: int, lost_attempts: int, max_attempts: int) -> bool:
    """Whether a task may run again after its attempt number ``attempt`` ends badly.

    The one answer to "are attempts left?" for the runner, the recovery of
    timed-out attempts and ``context.is_last_attempt``. ``attempt`` counts
    every attempt (``Task.attempts``); the ``lost_attempts`` among them were
    the worker's failure, not the task's, so they do not use up
    ``max_attempts``.
    """
    return attempt - lost_attempts < max_attempts


def is_lost_for_good(*, lost_attempts: int, on_lost: str, max_lost_attempts: int) -> bool:
    """Whether a task lost mid-run fails (``WorkerLost``) instead of running again.

    ``lost_attempts`` includes the attempt just lost. A task that must not
    run twice (``on_lost="fail"``) fails at once; any other fails once it
    has been lost ``max_lost_attempts`` times, so that a task that kills its
    worker every time ends.
    """
    return on_lost == OnLost.FAIL or lost_attempts >= max_lost_attempts


def succeeded(result_json: str) -> Outcome:
    return Outcome(
        status=Status.SUCCEEDED,
        attempt_outcome=AttemptOutcome.SUCCEEDED,
        result_json=result_json,
    )


def cancelled(exc: BaseException) -> Outcome:
    """The task was cancelled (``exc`` says by whom and why): final, never retried."""
    return Outcome(
        status=Status.CANCELLED,
        attempt_outcome=AttemptOutcome.CANCELLED,
        error_class=class_path(exc),
        error_message=describe(exc),
        traceback=format_traceback(exc),
    )


def failed(
    exc: BaseException,
    *,
    attempt: int,
    max_attempts: int,
    lost_attempts: int = 0,
    retry_delay: float,
    now: datetime,
    retryable: bool = True,
    attempt_outcome: AttemptOutcome = AttemptOutcome.FAILED,
    error_value_json: str | None = None,
) -> Outcome:
    """Retry after ``retry_delay`` while attempts remain (see
    :func:`has_attempts_left`) and the error is retryable, else fail for good."""
    retry = retryable and has_attempts_left(
        attempt=attempt, lost_attempts=lost_attempts, max_attempts=max_attempts
    )
    return Outcome(
        status=Status.QUEUED if retry else Status.FAILED,
        attempt_outcome=attempt_outcome,
        retry_at=now + timedelta(seconds=retry_delay) if retry else None,
        error_class=class_path(exc),
        error_message=describe(exc),
        traceback=format_traceback(exc),
        error_value_json=error_value_json,
    )
