"""Cancelling: queued tasks never start, running ones are asked to stop.

The writes are ``cancellation.py``'s; these functions check their
arguments and select the tasks.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable
from typing import Any

from django.core.exceptions import ValidationError

from django_taskflow import cancellation, models, queries, rerun
from django_taskflow.exceptions import InvalidQuery, ResultNotFound
from django_taskflow.operations.inputs import operator_name, reason_text
from django_taskflow.operations.twins import async_twin
from django_taskflow.selection import TaskSelection, in_chunks
from django_taskflow.states import CANCELLABLE, Status

logger = logging.getLogger(__name__)


def cancel(
    task_id: str | uuid.UUID,
    *,
    reason: str = "",
    by: Any = None,
    dry_run: bool = False,
    backend: str = "default",
) -> int:
    """Cancel one task; return 1 if it was cancelled or asked to stop, else 0.

    A queued task is cancelled at once and never starts. A running task is
    asked to stop: ``context.is_cancelled`` turns true in it within about a
    second, and if it has not stopped ``OPTIONS["CANCEL_GRACE_SECONDS"]``
    after this call, its worker stops it. ``by`` (a string or a user) and
    ``reason`` are stored with the task. A finished task, or a running one
    already asked to stop, is left as it is: 0, and a log line says why.
    With ``dry_run``, returns what it would and changes nothing. Raises
    :class:`ResultNotFound` for an id that names no task.
    """
    who, why = operator_name(by), reason_text(reason)
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
    if dry_run:
        return _would_cancel(models.Task.objects.using(database).filter(pk=task.pk))
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
    dry_run: bool = False,
    backend: str = "default",
) -> int:
    """Cancel every queued or running task that matches all filters given.

    ``name``, ``tag`` and ``queue`` select as in ``find_tasks``; ``status``
    (``"queued"``, ``"running"`` or both) narrows it; with ``"queued"`` alone,
    a task claimed by a worker meanwhile is left to run. At least one filter is
    required: ``cancel_all()`` cancels everything. Returns how many tasks
    were cancelled or asked to stop (with ``dry_run``, would be: nothing
    changes); see :func:`cancel`.
    """
    if name is None and tag is None and queue is None and status is None:
        raise InvalidQuery(
            "cancel_tasks needs at least one of name, tag, queue or status; "
            "cancel_all() cancels every task."
        )
    statuses = _cancellable_statuses(status)
    tasks = queries.filter_tasks(name=name, tag=tag, queue=queue, status=statuses, backend=backend)
    if dry_run:
        return _would_cancel(tasks)
    return _cancel_matching(
        tasks,
        operator_name(by),
        reason_text(reason),
        backend,
        # Only queued ones asked for: one claimed meanwhile is left to run.
        running=Status.RUNNING in statuses,
    )


def _cancellable_statuses(status: str | Iterable[str] | None) -> list[str]:
    """``status`` as a list of cancellable statuses (both when ``None``); else InvalidQuery."""
    statuses = [status] if isinstance(status, str) else status
    if statuses is None:
        return list(CANCELLABLE)
    statuses = list(statuses)
    if not statuses or not set(statuses) <= set(CANCELLABLE):
        raise InvalidQuery(
            f"status must be 'queued', 'running' or both: only those can be cancelled, "
            f"got {status!r}."
        )
    return statuses


def _would_cancel(tasks: models.TaskQuerySet) -> int:
    """How many of ``tasks`` a cancel would change: a running task already asked is not."""
    return (
        tasks.filter(status__in=CANCELLABLE)
        .exclude(status=Status.RUNNING, cancel_requested_at__isnull=False)
        .order_by()
        .count()
    )


def cancel_all(*, reason: str = "", by: Any = None, backend: str = "default") -> int:
    """Cancel every queued task and ask every running one to stop; return how many."""
    return _cancel_matching(
        queries.filter_tasks(status=list(CANCELLABLE), backend=backend),
        operator_name(by),
        reason_text(reason),
        backend,
    )


def _cancel_matching(
    tasks: models.TaskQuerySet, by: str, reason: str, backend: str, *, running: bool = True
) -> int:
    ids = list(tasks.order_by().values_list("pk", flat=True))
    return cancellation.cancel(
        queries.database_for(backend), ids, by=by, reason=reason, running=running
    )


def cancel_selected(
    task_ids: TaskSelection, *, reason: str = "", by: Any = None, backend: str = "default"
) -> rerun.Report:
    """Cancel the selected tasks (ids or a queryset) in chunks; report the rest.

    As :func:`cancel` for each: queued ones are cancelled, running ones
    asked to stop; finished ones and those already asked are refused.
    """
    who, why = operator_name(by), reason_text(reason)

    def write(database: str, ids: list[uuid.UUID]) -> rerun.Report:
        count = cancellation.cancel(database, ids, by=who, reason=why)
        report = rerun.Report(changed=count)
        if len(ids) > count:
            report.refused["it is finished, or already asked to stop"] += len(ids) - count
        return report

    return in_chunks(
        write,
        task_ids,
        backend=backend,
        operation="cancel_selected",
    )


acancel = async_twin(cancel)
acancel_tasks = async_twin(cancel_tasks)
acancel_all = async_twin(cancel_all)
acancel_selected = async_twin(cancel_selected)
