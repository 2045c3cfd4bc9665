"""Running tasks again: requeue, retry now, retry with other arguments, recover stuck.

Each takes ids, a queryset (the admin's "select all") or filters, and
works through them in chunks of ``rerun.CHUNK`` ids, read by keyset on the
primary key: a selection of 100,000 tasks is never loaded at once. The
writes are ``rerun.py``'s and ``stuck.py``'s.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from typing import Any, Unpack

from django.core.exceptions import ValidationError
from django.db import transaction

from django_taskflow import models, queries, rerun
from django_taskflow.definition import TaskflowTask
from django_taskflow.exceptions import InvalidQuery, ResultNotFound
from django_taskflow.operations.inputs import operator_name
from django_taskflow.operations.twins import async_twin
from django_taskflow.selection import TaskFilters, TaskSelection, in_chunks
from django_taskflow.states import FINISHED


def requeue(
    task_ids: TaskSelection = None,
    *,
    by: Any = None,
    dry_run: bool = False,
    backend: str = "default",
    **filters: Unpack[TaskFilters],
) -> rerun.Report:
    """Enqueue a new task with the same inputs for each finished task selected.

    Select with ``task_ids`` (one id, several, or a queryset of tasks) or
    with the filters of ``find_tasks`` (at least one of ``name``, ``tag``,
    ``queue``, ``status``). The new task's
    ``original`` is the id of the task it repeats; the original is left as
    it is. Queued and running tasks are refused, and so is a ``unique=True``
    task while another copy of it is queued or running. Returns a
    :class:`~django_taskflow.rerun.Report`: ``changed`` (tasks made),
    ``refused`` (count by reason) and ``new_ids``. With ``dry_run``, the
    report counts what would be made and refused, and nothing is written.
    """
    return _rerun(rerun.requeue, "requeue", task_ids, by, dry_run, backend, filters)


def retry_now(
    task_ids: TaskSelection = None,
    *,
    by: Any = None,
    dry_run: bool = False,
    backend: str = "default",
    **filters: Unpack[TaskFilters],
) -> rerun.Report:
    """Put each failed or waiting task selected back in the queue, to run at once.

    The one way out of ``failed``: the task gets one more allowed attempt,
    and keeps its earlier attempts. A queued task waiting for its
    ``run_after`` (a retry's back-off) runs now. A ``retried`` event
    records ``by``. Other states are refused with the reason; selection,
    ``dry_run`` and return value as in :func:`requeue`.
    """
    return _rerun(rerun.retry_now, "retry_now", task_ids, by, dry_run, backend, filters)


def _rerun(
    write: Callable[..., rerun.Report],
    operation: str,
    task_ids: TaskSelection,
    by: Any,
    dry_run: bool,
    backend: str,
    filters: TaskFilters,
) -> rerun.Report:
    who = operator_name(by)
    return in_chunks(
        lambda database, ids: write(database, ids, by=who, dry_run=dry_run),
        task_ids,
        backend=backend,
        operation=operation,
        **filters,
    )


def retry_with_arguments(
    task_id: str | uuid.UUID,
    *,
    args: Sequence[Any],
    kwargs: dict[str, Any],
    by: Any = None,
    backend: str = "default",
) -> Any:
    """Enqueue a new run of a finished task with other arguments; return its result.

    The arguments are checked against the task's signature and its
    parameters' annotations, and stored as any enqueue's are: a
    ``TypeError`` (they do not fit) or a
    ``ValueError`` (one cannot be stored) is raised before any row is
    written. The new task keeps the original's queue, priority, key and
    tags, has ``original`` set to its id and a ``requeued`` event with
    ``by``. Raises :class:`InvalidQuery` for a queued or running task.
    """
    from django_taskflow import edited_arguments, registry
    from django_taskflow.encoding import calls as typed_calls
    from django_taskflow.encoding import copies

    who = operator_name(by)
    database = queries.database_for(backend)
    try:
        task = models.Task.objects.using(database).filter(backend=backend).get(pk=task_id)
    except (models.Task.DoesNotExist, ValidationError, ValueError) as exc:
        raise ResultNotFound(f"No task with id {task_id!r}.") from exc
    if task.status not in FINISHED:
        raise InvalidQuery(f"task {task.pk} is still {task.status}: nothing to retry.")
    definition = registry.resolve(task.task_path).using(
        priority=task.priority, queue_name=task.queue_name, backend=backend
    )
    if isinstance(definition, TaskflowTask):  # not one of Django's plain tasks
        definition = copies.as_written(
            definition.using(tags=task.tags, key=task.key), task.encoding
        )
    edited_arguments.check(definition, args, kwargs)
    # Edited as JSON: typed parameters (a dataclass, a datetime...) are built from it.
    typed_args, typed_kwargs = typed_calls.load_call(
        definition.func, definition.takes_context, args, kwargs
    )
    with transaction.atomic(using=database):
        result = definition.enqueue(*typed_args, **typed_kwargs)
        if getattr(result, "deduplicated", False):
            raise InvalidQuery(f"task {task.pk}: {rerun.TAKEN}.")
        models.Task.objects.using(database).filter(pk=result.id).update(original=task.pk)
        rerun.record(database, [uuid.UUID(result.id)], models.EventKind.REQUEUED, {"by": who})
    return result


def recover_stuck(
    task_ids: TaskSelection, *, by: Any = None, backend: str = "default"
) -> rerun.Report:
    """Recover the stuck tasks selected: their attempt ends as lost, as a worker's would.

    A task is stuck when it is running with a lease expired more than
    ``stuck.STUCK_AFTER_LEASES`` leases ago (and, once workers have rows,
    no live worker). It is queued again, or fails if ``on_lost="fail"``
    or it was lost ``MAX_LOST_ATTEMPTS`` times. Other tasks are refused.
    """
    from django_taskflow import stuck

    who = operator_name(by)
    lease_seconds = stuck.lease_seconds(backend)
    return in_chunks(
        lambda database, ids: stuck.recover(database, ids, by=who, lease_seconds=lease_seconds),
        task_ids,
        backend=backend,
        operation="recover_stuck",
    )


arequeue = async_twin(requeue)
aretry_now = async_twin(retry_now)
aretry_with_arguments = async_twin(retry_with_arguments)
arecover_stuck = async_twin(recover_stuck)
