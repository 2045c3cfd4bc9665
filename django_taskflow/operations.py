"""Steering: what an operator does to tasks and queues.

The one home of these actions: the admin, the command line, the API and
the dashboard call these functions and nothing below them. They check
their arguments, then call the module that writes (``cancellation.py``
for cancelling). No permission checks here: the callers own those.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable
from typing import Any

from asgiref.sync import sync_to_async
from django.core.exceptions import ValidationError

from django_taskflow import cancellation, models, queries
from django_taskflow.exceptions import InvalidQuery, ResultNotFound
from django_taskflow.states import CANCELLABLE, Status

logger = logging.getLogger(__name__)


# -- cancellation ----------------------------------------------------------------


def _who(by: Any) -> str:
    """``by`` as stored: a user's username, else its text."""
    if by is None:
        return ""
    get_username = getattr(by, "get_username", None)
    text = get_username() if callable(get_username) else by
    if not isinstance(text, str):
        raise InvalidQuery(f"by must be a string or a user, got {by!r}.")
    return text[:255]


def _why(reason: Any) -> str:
    if not isinstance(reason, str):
        raise InvalidQuery(f"reason must be a string, got {reason!r}.")
    return reason


def cancel(
    task_id: str | uuid.UUID, *, reason: str = "", by: Any = None, backend: str = "default"
) -> int:
    """Cancel one task; return 1 if it was cancelled or asked to stop, else 0.

    A queued task is cancelled at once and never starts. A running task is
    asked to stop: ``context.is_cancelled`` turns true in it within about a
    second, and if it has not stopped ``OPTIONS["CANCEL_GRACE_SECONDS"]``
    after this call, its worker stops it. ``by`` (a string or a user) and
    ``reason`` are stored with the task. A finished task, or a running one
    already asked to stop, is left as it is: 0, and a log line says why.
    Raises :class:`ResultNotFound` for an id that names no task.
    """
    who, why = _who(by), _why(reason)
    database = queries.database_for(backend)
    try:
        task = (
            models.Task.objects.using(database)
            .filter(backend=backend)
            .only("id", "status", "cancel_requested_at")
            .get(pk=task_id)
        )
    except (models.Task.DoesNotExist, ValidationError, ValueError) as exc:
        raise ResultNotFound(f"No task with id {task_id!r}.") from exc
    count = cancellation.cancel(database, [task.pk], by=who, reason=why)
    if not count:
        task.refresh_from_db(fields=["status", "cancel_requested_at"])
        logger.info(
            "task %s not cancelled: %s",
            task.pk,
            "it is already asked to stop"
            if task.status == Status.RUNNING
            else f"it is already {task.status}",
            extra={"action": "cancel_ignored", "task_id": str(task.pk)},
        )
    return count


def cancel_tasks(
    name: str | None = None,
    *,
    tag: str | None = None,
    queue: str | None = None,
    status: str | Iterable[str] | None = None,
    reason: str = "",
    by: Any = None,
    backend: str = "default",
) -> int:
    """Cancel every queued or running task that matches all filters given.

    ``name``, ``tag`` and ``queue`` select as in ``find_tasks``; ``status``
    (``"queued"``, ``"running"`` or both) narrows it; with ``"queued"`` alone,
    a task claimed by a worker meanwhile is left to run. At least one filter is
    required: ``cancel_all()`` cancels everything. Returns how many tasks
    were cancelled or asked to stop; see :func:`cancel`.
    """
    if name is None and tag is None and queue is None and status is None:
        raise InvalidQuery(
            "cancel_tasks needs at least one of name, tag, queue or status; "
            "cancel_all() cancels every task."
        )
    statuses = [status] if isinstance(status, str) else status
    if statuses is not None and (not statuses or not set(statuses) <= set(CANCELLABLE)):
        raise InvalidQuery(
            f"status must be 'queued', 'running' or both: only those can be cancelled, "
            f"got {status!r}."
        )
    return _cancel_matching(
        queries.filter_tasks(
            name=name,
            tag=tag,
            queue=queue,
            status=list(statuses) if statuses is not None else list(CANCELLABLE),
            backend=backend,
        ),
        _who(by),
        _why(reason),
        backend,
        # Only queued ones asked for: one claimed meanwhile is left to run.
        running=statuses is None or Status.RUNNING in statuses,
    )


def cancel_all(*, reason: str = "", by: Any = None, backend: str = "default") -> int:
    """Cancel every queued task and ask every running one to stop; return how many."""
    return _cancel_matching(
        queries.filter_tasks(status=list(CANCELLABLE), backend=backend),
        _who(by),
        _why(reason),
        backend,
    )


def _cancel_matching(
    tasks: models.TaskQuerySet, by: str, reason: str, backend: str, *, running: bool = True
) -> int:
    ids = list(tasks.order_by().values_list("pk", flat=True))
    return cancellation.cancel(
        queries.database_for(backend), ids, by=by, reason=reason, running=running
    )


async def acancel(
    task_id: str | uuid.UUID, *, reason: str = "", by: Any = None, backend: str = "default"
) -> int:
    """Async twin of :func:`cancel`."""
    return await sync_to_async(cancel, thread_sensitive=True)(
        task_id, reason=reason, by=by, backend=backend
    )


async def acancel_tasks(
    name: str | None = None,
    *,
    tag: str | None = None,
    queue: str | None = None,
    status: str | Iterable[str] | None = None,
    reason: str = "",
    by: Any = None,
    backend: str = "default",
) -> int:
    """Async twin of :func:`cancel_tasks`."""
    return await sync_to_async(cancel_tasks, thread_sensitive=True)(
        name, tag=tag, queue=queue, status=status, reason=reason, by=by, backend=backend
    )


async def acancel_all(*, reason: str = "", by: Any = None, backend: str = "default") -> int:
    """Async twin of :func:`cancel_all`."""
    return await sync_to_async(cancel_all, thread_sensitive=True)(
        reason=reason, by=by, backend=backend
    )
