"""``monitor(task_id)``: a task's life as typed states, ready for ``match``.

```python
for state in monitor(result.id, timeout=60):
    match state:
        case Running(progress=p):
            print(f"{p:.0%}")
        case Succeeded(output=value):
            print("done", value)
        case Failed(error=error):
            print("failed", error)
```

An encrypted task's states hold its payload decrypted with this process's
keys (the caller's, as ``result.return_value`` does), and their string
forms show ``[encrypted]`` in its place; a compressed task's are decoded.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

from asgiref.sync import sync_to_async
from django.core.exceptions import ValidationError

from django_taskflow import events, models
from django_taskflow.encoding.fields import REDACTED
from django_taskflow.events import AttemptError, TaskEvent
from django_taskflow.exceptions import ResultNotFound
from django_taskflow.models import EventKind
from django_taskflow.states import Status


@dataclass(frozen=True, slots=True)
class Queued:
    """Waiting to run (first time)."""


@dataclass(frozen=True, slots=True)
class Running:
    """An attempt is running; ``progress`` is 0..1 when the task reports it."""

    attempt: int
    progress: float | None = None
    detail: dict[str, Any] = field(default_factory=dict)
    # Of an encrypted task: ``detail`` is shown as [encrypted] by repr().
    encrypted: bool = field(default=False, repr=False, compare=False, kw_only=True)

    def __repr__(self) -> str:
        detail = REDACTED if self.encrypted and self.detail else repr(self.detail)
        return f"Running(attempt={self.attempt!r}, progress={self.progress!r}, detail={detail})"


@dataclass(frozen=True, slots=True)
class Retrying:
    """An attempt failed with ``error``; attempt ``attempt + 1`` is scheduled."""

    attempt: int
    error: AttemptError | None = None


@dataclass(frozen=True, slots=True)
class Succeeded:
    """Done; ``output`` is the stored result's JSON value."""

    output: Any
    # Of an encrypted task: ``output`` is shown as [encrypted] by repr().
    encrypted: bool = field(default=False, repr=False, compare=False, kw_only=True)

    def __repr__(self) -> str:
        output = REDACTED if self.encrypted and self.output is not None else repr(self.output)
        return f"Succeeded(output={output})"


@dataclass(frozen=True, slots=True)
class Failed:
    error: AttemptError | None


@dataclass(frozen=True, slots=True)
class Cancelled:
    """Cancelled before it finished."""


type State = Queued | Running | Retrying | Succeeded | Failed | Cancelled
FINAL = (Succeeded, Failed, Cancelled)


def state_of(event: TaskEvent) -> State:
    """The state a task is in right after ``event``, its payload decoded by this process."""
    event = event.reveal()
    match event.kind:
        case EventKind.STARTED:
            return Running(attempt=event.attempt, progress=0.0)
        case EventKind.PROGRESS | EventKind.SOFT_TIMEOUT:
            return Running(
                attempt=event.attempt,
                progress=event.data.get("progress"),
                detail=event.data.get("detail", {}),
                encrypted=event.is_encrypted,
            )
        case EventKind.RETRYING:
            return Retrying(attempt=event.attempt, error=event.error)
        case EventKind.SUCCEEDED:
            return Succeeded(output=event.result, encrypted=event.is_encrypted)
        case EventKind.FAILED:
            return Failed(error=event.error)
        case _:
            return Cancelled()


def _first_state(task_id: str, database: str) -> State:
    try:
        task = models.Task.objects.using(database).get(pk=task_id)
    except (models.Task.DoesNotExist, ValidationError, ValueError) as exc:
        raise ResultNotFound(f"No task with id {task_id!r}.") from exc
    # A task cancelled before it ever ran has no events to replay.
    return Cancelled() if task.status == Status.CANCELLED and not task.attempts else Queued()


def monitor(
    task_id: str, *, timeout: float | None = None, database: str = "default"
) -> Iterator[State]:
    """Yield each state ``task_id`` goes through, from the start, until it ends.

    Replays what already happened, then follows live. Raises
    :class:`ResultNotFound` for an unknown id. Stops at ``Succeeded``,
    ``Failed`` or ``Cancelled``, or when ``timeout`` seconds pass.
    """
    first = _first_state(task_id, database)
    yield first
    if isinstance(first, FINAL):
        return
    for event in events.stream(task=task_id, after=0, timeout=timeout, database=database):
        state = state_of(event)
        yield state
        if isinstance(state, FINAL):
            return


async def amonitor(
    task_id: str, *, timeout: float | None = None, database: str = "default"
) -> AsyncIterator[State]:
    """Async twin of :func:`monitor`."""
    first = await sync_to_async(_first_state, thread_sensitive=True)(task_id, database)
    yield first
    if isinstance(first, FINAL):
        return
    async for event in events.stream(task=task_id, after=0, timeout=timeout, database=database):
        state = state_of(event)
        yield state
        if isinstance(state, FINAL):
            return
