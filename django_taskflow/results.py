"""Row → ``django.tasks.TaskResult`` (and nothing else).

:class:`TaskflowResult` is the snapshot ``enqueue()`` and ``get_result()``
return: Django's ``TaskResult`` plus ``wait()``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from asgiref.sync import sync_to_async
from django.core.exceptions import ValidationError
from django.tasks import Task, TaskResult
from django.tasks.base import TaskError

from django_taskflow import models, payload_display, registry, states
from django_taskflow.encoding import arguments as stored_arguments
from django_taskflow.encoding import calls as typed_calls
from django_taskflow.encoding import fields as sealed_fields
from django_taskflow.encoding import results as stored_results
from django_taskflow.encoding import stored as stored_encoding
from django_taskflow.encoding.keys import EncryptionKey
from django_taskflow.exceptions import ResultNotFound, TaskflowError
from django_taskflow.polling import Waiting

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True, kw_only=True)
class TaskflowResult(TaskResult, Waiting):  # type: ignore[misc, type-arg]  # frozen at run time; the stubs disagree
    """A snapshot of one task; ``refresh()`` reloads it, ``wait()`` waits for the end (``Waiting``).

    ``deduplicated`` is true when the enqueue that returned it found the
    task already there (``@task(dedup=...)`` or ``unique=True``) and
    inserted nothing; ``refresh()`` keeps it.
    """

    deduplicated: bool = False
    # The row's ``encoding`` column (django_taskflow.encoding.stored).
    encoding: str | None = None

    @property
    def is_encrypted(self) -> bool:
        """Whether the task's payloads are stored encrypted (its repr then hides them)."""
        return stored_encoding.read(self.encoding).key_id is not None

    def __repr__(self) -> str:
        if not self.is_encrypted:
            return TaskResult.__repr__(self)
        # Logs and error trackers print results: never an encrypted task's payloads.
        return (
            f"{type(self).__name__}(id={self.id!r}, task={self.task.module_path!r}, "
            f"status={self.status!r}, args=[encrypted], kwargs=[encrypted], "
            "return_value=[encrypted])"
        )

    def cancel(self, *, reason: str = "", by: Any = None) -> int:
        """Cancel this task; see ``django_taskflow.cancel()``. Returns 1 or 0."""
        from django_taskflow import operations

        return operations.cancel(self.id, reason=reason, by=by, backend=self.backend)

    async def acancel(self, *, reason: str = "", by: Any = None) -> int:
        """Async twin of :meth:`cancel`."""
        from django_taskflow import operations

        return await operations.acancel(self.id, reason=reason, by=by, backend=self.backend)

    def unfinished_text(self) -> str:
        return f"Task {self.id} ({self.task.module_path}) is still {self.status.label}"


class EncryptedTaskError(TaskError):
    """An encrypted task's error: its ``traceback`` decrypted, shown as ``[encrypted]`` by repr()."""

    __slots__ = ()

    def __repr__(self) -> str:
        return (
            f"TaskError(exception_class_path={self.exception_class_path!r}, "
            f"traceback={sealed_fields.REDACTED})"
        )


def _task_error(task: models.Task, attempt: models.Attempt) -> TaskError:
    if not sealed_fields.holds_sealed_text(attempt.traceback):
        return TaskError(exception_class_path=attempt.error_class, traceback=attempt.traceback)
    traceback = payload_display.attempt_text(
        task, attempt.number, sealed_fields.TRACEBACK, attempt.traceback, reveal=True
    )
    return EncryptedTaskError(exception_class_path=attempt.error_class, traceback=traceback)


def build(
    definition: Task[Any, Any],
    *,
    task_id: Any,
    status: str,
    args: list[Any],
    kwargs: dict[str, Any],
    enqueued_at: datetime | None,
    started_at: datetime | None = None,
    finished_at: datetime | None = None,
    last_attempted_at: datetime | None = None,
    errors: list[TaskError] | None = None,
    worker_ids: list[str] | None = None,
    return_value: Any = None,
    deduplicated: bool = False,
    encoding: str | None = None,
) -> TaskflowResult:
    """Assemble a result snapshot from stored values."""
    result = TaskflowResult(
        task=definition,
        id=str(task_id),
        status=states.to_django(status),
        enqueued_at=enqueued_at,
        started_at=started_at,
        finished_at=finished_at,
        last_attempted_at=last_attempted_at,
        args=args,
        kwargs=kwargs,
        backend=definition.backend,
        errors=errors or [],
        worker_ids=worker_ids or [],
        deduplicated=deduplicated,
        encoding=encoding,
    )
    # _return_value is init=False in Django's dataclass; this is the only way in.
    object.__setattr__(result, "_return_value", return_value)
    return result


def finished(
    running: TaskflowResult, *, status: str, finished_at: datetime, return_value: Any
) -> TaskflowResult:
    """The snapshot of a task that just ended, from the one taken as it started."""
    return build(
        running.task,
        task_id=running.id,
        status=status,
        args=running.args,
        kwargs=running.kwargs,
        enqueued_at=running.enqueued_at,
        started_at=running.started_at,
        finished_at=finished_at,
        last_attempted_at=running.last_attempted_at,
        worker_ids=running.worker_ids,
        return_value=typed_return_value(
            running.task,
            stored_results.decode(return_value, running.id, running.encoding, _keys(running.task)),
        ),
        encoding=running.encoding,
    )


def _keys(definition: Task[Any, Any]) -> tuple[EncryptionKey, ...]:
    config = getattr(definition.get_backend(), "config", None)
    return () if config is None else tuple(config.encryption_keys)


def typed_return_value(definition: Task[Any, Any], stored: Any) -> Any:
    """A stored result as the function's return annotation types it (a dataclass, say).

    A stored value that no longer fits the annotation (the function's
    return type changed since) is given as stored, with a warning.
    """
    try:
        return typed_calls.load_result(definition.func, stored)
    except (TypeError, ValueError, KeyError, AttributeError) as exc:
        logger.warning(
            "The result of %s does not fit its return annotation; giving it as stored: %s",
            definition.module_path,
            exc,
            extra={"action": "typed_result_unreadable"},
        )
        return stored


def from_row(
    task: models.Task, definition: Task[Any, Any] | None = None, *, deduplicated: bool = False
) -> TaskflowResult:
    """Build the snapshot of ``task``, with every attempt's worker and error."""
    attempts = list(task.attempt_set.all())
    definition = definition or definition_for(task)
    args, kwargs, return_value = _stored_payloads(task, definition)
    return build(
        definition,
        task_id=task.id,
        status=task.status,
        args=args,
        kwargs=kwargs,
        enqueued_at=task.enqueued_at,
        started_at=task.started_at,
        finished_at=task.finished_at,
        last_attempted_at=task.last_attempted_at,
        errors=[_task_error(task, a) for a in attempts if a.error_class],
        worker_ids=[a.worker_id for a in attempts],
        return_value=typed_return_value(definition, return_value),
        deduplicated=deduplicated,
        encoding=task.encoding,
    )


def _stored_payloads(
    task: models.Task, definition: Task[Any, Any]
) -> tuple[list[Any], dict[str, Any], Any]:
    """The row's args, kwargs and result as JSON values, decoded if they are encoded.

    What this process cannot decode (a key it lacks, a tampered value) is
    given as empty arguments or no result, with a warning: the snapshot is
    still needed to report the task's end, and the error shows when it runs.
    """
    if task.encoding is None:
        return task.args, task.kwargs, task.result
    keys = _keys(definition)
    args: list[Any] = []
    kwargs: dict[str, Any] = {}
    result = None
    try:
        args, kwargs = stored_arguments.read_call(
            definition, task.id, task.encoding, task.args, task.kwargs, keys
        )
        result = stored_results.decode(task.result, task.id, task.encoding, keys)
    except TaskflowError as exc:
        logger.warning(
            "Cannot decode the payloads of task %s: %s",
            task.id,
            exc,
            extra={"action": "payload_unreadable", "task_id": str(task.id)},
        )
    return args, kwargs, result


def as_duplicate(result: TaskflowResult) -> TaskflowResult:
    """The same snapshot, marked as the answer to a duplicate enqueue."""
    copy = replace(result, deduplicated=True)
    # init=False in Django's dataclass, so replace() drops it; as in build().
    object.__setattr__(copy, "_return_value", getattr(result, "_return_value", None))
    return copy


def definition_for(task: models.Task) -> Task[Any, Any]:
    """Return the definition of ``task``'s row with the options it was enqueued with."""
    definition = registry.resolve(task.task_path)
    changes: dict[str, Any] = {
        "priority": task.priority,
        "queue_name": task.queue_name,
        "backend": task.backend,
    }
    if task.run_after and task.run_after > task.enqueued_at:
        changes["run_after"] = task.run_after
    return definition.using(**changes)


def load(database: str, result_id: str) -> TaskflowResult:
    """Return the snapshot of the task ``result_id``, or raise :class:`ResultNotFound`."""
    try:
        task = models.Task.objects.using(database).get(pk=result_id)
    except (models.Task.DoesNotExist, ValidationError, ValueError) as exc:
        raise ResultNotFound(f"No task with id {result_id!r}.") from exc
    return from_row(task)


async def aload(database: str, result_id: str) -> TaskflowResult:
    """Async twin of :func:`load`."""
    return await sync_to_async(load, thread_sensitive=True)(database, result_id)
