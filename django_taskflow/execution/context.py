"""The context a ``takes_context=True`` task (and every middleware) receives."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any, NoReturn, Protocol

from django.tasks import TaskContext as DjangoTaskContext

from django_taskflow.exceptions import InvalidTaskOptions, RetryRequested, TaskCancelled
from django_taskflow.execution.outcome import has_attempts_left
from django_taskflow.payloads import MAX_DEPTH, find_unserializable
from django_taskflow.policies import RetryPolicy
from django_taskflow.text import limited_text, storable_json

# A week: longer than any sane lease, short enough for datetime arithmetic.
MAX_LEASE_EXTENSION_SECONDS = 7 * 24 * 3600

# A progress message is a line for a progress bar, not a log: longer ones
# are cut, so that a task cannot fill the event log or a browser with one.
MAX_PROGRESS_MESSAGE_CHARS = 500


class Reporter(Protocol):
    """Where a context sends what the task reports: the worker's slot."""

    @property
    def handles_signals(self) -> bool:
        """True in a worker, where SIGINT never reaches the task."""
        ...

    @property
    def hard_limit_passed(self) -> bool:
        """True once the running attempt was interrupted at its hard time limit."""
        ...

    def begin_attempt(self, task: Any, context: Any) -> None: ...

    def end_attempt(self) -> None: ...

    def report_progress(
        self, task_id: str, fraction: float, detail: dict[str, Any], message: str | None = None
    ) -> None: ...

    def extend_lease(self, task_id: str, seconds: float | None) -> None: ...

    def cancellation(self, task_id: str) -> Any:
        """The cancel request for ``task_id`` the worker knows of, or None."""
        ...


@dataclass(frozen=True, slots=True, kw_only=True)
class TaskContext(DjangoTaskContext):  # type: ignore[misc, type-arg]  # frozen at run time; the stubs disagree
    """Django's ``TaskContext`` plus what the worker knows about this run.

    ``attempt`` is the number of this attempt (1 for the first run), counted
    in the database, so it survives worker restarts; ``lost_attempts`` of
    them were lost with their worker and do not use up ``max_attempts``.
    ``extra`` is a dict middleware may use to pass values to the task.
    """

    attempt_number: int
    max_attempts: int
    worker_id: str
    lost_attempts: int = 0
    key: str | None = None
    tags: tuple[str, ...] = ()
    reporter: Reporter | None = field(default=None, repr=False, compare=False)
    extra: dict[str, Any] = field(default_factory=dict, compare=False)
    # Steps spawned by this attempt, as stored; see spawn().
    spawned: list[dict[str, Any]] = field(default_factory=list, compare=False, repr=False)

    @property
    def attempt(self) -> int:
        return self.attempt_number

    @property
    def task_id(self) -> str:
        return self.task_result.id

    @property
    def is_last_attempt(self) -> bool:
        """Whether a failure now ends the task (lost attempts do not count)."""
        return not has_attempts_left(
            attempt=self.attempt_number,
            lost_attempts=self.lost_attempts,
            max_attempts=self.max_attempts,
        )

    @property
    def is_cancelled(self) -> bool:
        """Whether someone cancelled this task (``django_taskflow.cancel()``).

        Turns true within about a second of the call. The task should then
        stop soon: :meth:`check_cancelled` raises for it.
        """
        return self.reporter is not None and self.reporter.cancellation(self.task_id) is not None

    def check_cancelled(self) -> None:
        """Raise :class:`TaskCancelled` if this task was cancelled; else return.

        Call it between steps of long work. Let the exception propagate:
        ``finally`` blocks run, and the attempt is recorded ``cancelled``.
        A task still running ``OPTIONS["CANCEL_GRACE_SECONDS"]`` after the
        cancel is stopped by its worker.
        """
        if self.reporter is not None:
            request = self.reporter.cancellation(self.task_id)
            if request is not None:
                raise TaskCancelled(request.describe())

    def report_progress(self, fraction: float, message: str | None = None, **detail: Any) -> None:
        """Record how far the task has got (0 to 1), with a message and JSON details.

        Seen by ``monitor()``, the event stream, the ``task_progress``
        signal and live progress (the websocket's ``"message"`` is
        ``message``). ``message`` is text for people ("Importing rows"); one
        longer than ``MAX_PROGRESS_MESSAGE_CHARS`` is cut short. NUL
        characters and lone surrogates in the message and the details'
        strings are stored as backslash escapes (see ``django_taskflow.text``).
        The details are copied as they are now: the task may go on changing
        them. Raises ``InvalidTaskOptions`` (a ``ValueError``) for a fraction
        outside 0..1 and ``UnserializablePayload`` for details that are not
        JSON, and ``InvalidTaskOptions`` for a message that is not text.
        Raises :class:`TaskCancelled` once the task was cancelled.
        """
        self.check_cancelled()
        if message is not None and not isinstance(message, str):
            raise InvalidTaskOptions(f"progress message must be text or None, got {message!r}.")
        if (
            isinstance(fraction, bool)
            or not isinstance(fraction, int | float)
            or not math.isfinite(fraction)
            or not 0 <= fraction <= 1
        ):
            raise InvalidTaskOptions(f"progress must be a number from 0 to 1, got {fraction!r}.")
        # What the database cannot hold (NUL, lone surrogates) is escaped, not refused:
        # progress is for reading, and a filename from the disk may well hold either.
        detail = storable_json(detail, MAX_DEPTH)
        problem = find_unserializable(detail, "the progress details")
        if problem:
            from django_taskflow.exceptions import UnserializablePayload

            raise UnserializablePayload(f"Progress details must be JSON: {problem}.")
        if self.reporter is not None:
            # A copy, as it is now: it is written later, on another thread,
            # and the task may go on changing what it passed.
            detail = json.loads(json.dumps(detail))
            if message is not None:
                message = limited_text(message, MAX_PROGRESS_MESSAGE_CHARS)
            self.reporter.report_progress(self.task_id, float(fraction), detail, message)

    def heartbeat(self) -> None:
        """Renew this task's lease now (the worker also renews it on its own).

        Raises :class:`TaskCancelled` once the task was cancelled.
        """
        self.check_cancelled()
        if self.reporter is not None:
            self.reporter.extend_lease(self.task_id, None)

    def extend_lease(self, seconds: float) -> None:
        """Make this task's lease last at least ``seconds`` more.

        Use it before a long stretch in code that holds the GIL (a C
        extension, say), during which the worker's own renewal could stall.
        """
        if (
            isinstance(seconds, bool)
            or not isinstance(seconds, int | float)
            or not math.isfinite(seconds)
            or not 0 < seconds <= MAX_LEASE_EXTENSION_SECONDS
        ):
            raise InvalidTaskOptions(
                f"extend_lease needs seconds from 0 to {MAX_LEASE_EXTENSION_SECONDS}, "
                f"got {seconds!r}."
            )
        if self.reporter is not None:
            self.reporter.extend_lease(self.task_id, float(seconds))

    def spawn(self, step: Any) -> None:
        """Enqueue ``step`` (``task.s(...)``) as a child of this task.

        The child is created with this attempt's successful outcome, in the
        same transaction; if this attempt fails (and is retried, say), its
        children never exist. A task's children form one flow, linked to it
        (``Flow.parent_task``). Raises ``StepArgumentsMismatch`` here if
        the arguments cannot fit the child's function.
        """
        from django.tasks import task_backends

        from django_taskflow.flows.steps import Passing, Step

        if not isinstance(step, Step):
            raise InvalidTaskOptions(f"spawn() takes a step made with task.s(...), got {step!r}.")
        config = getattr(task_backends[step.definition.backend], "config", None)
        step.check(False, config.max_payload_bytes if config else 1_000_000)
        self.spawned.append(step.to_json(Passing.NONE))

    def enqueue(self, definition: Any, *args: Any, **kwargs: Any) -> None:
        """Enqueue ``definition(*args, **kwargs)`` as a child of this task; see :meth:`spawn`."""
        self.spawn(definition.s(*args, **kwargs))

    def retry(self, countdown: float | None = None, policy: RetryPolicy | None = None) -> NoReturn:
        """End this attempt now and schedule another.

        ``countdown`` seconds from now, else after the delay ``policy`` (or
        the task's retry policy) gives. Counts against ``max_attempts``: on
        the last attempt the task fails with ``RetryRequested``.
        """
        if countdown is not None and (
            isinstance(countdown, bool)
            or not isinstance(countdown, int | float)
            or not math.isfinite(countdown)
            or countdown < 0
        ):
            raise InvalidTaskOptions(f"countdown must be seconds >= 0, got {countdown!r}.")
        if policy is not None and not isinstance(policy, RetryPolicy):
            raise InvalidTaskOptions(f"policy must be a RetryPolicy, got {policy!r}.")
        raise RetryRequested(countdown, policy)
