"""Steering: the one home of what operators do to tasks and queues.

The admin, the ``taskflow`` command, the API and the dashboard call these
functions and nothing below them; none of them writes a task's status or a
``QueueState`` itself. They check their arguments, then call the module
that writes (``cancellation.py`` for cancelling). No permission checks
here: the callers own those. Each function has an async twin with an ``a``
prefix.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Iterable, Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from asgiref.sync import sync_to_async
from django.core.exceptions import ValidationError
from django.db import connections, transaction
from django.tasks import task_backends

from django_taskflow import cancellation, models, queries, rerun
from django_taskflow.conf import Options
from django_taskflow.db import dialect_for
from django_taskflow.definition import NAME_MAX_LENGTH, TaskflowTask
from django_taskflow.exceptions import InvalidQuery, InvalidQueueOperation, ResultNotFound
from django_taskflow.queues import STATE_REFRESH_SECONDS
from django_taskflow.selection import TaskSelection, in_chunks
from django_taskflow.states import CANCELLABLE, FINISHED, Status

if TYPE_CHECKING:
    from django_taskflow.retention import PruneReport

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


# Beyond the workers' refresh interval: a claim or a read that was under way.
PAUSE_MARGIN_SECONDS = 0.1


# -- queues: pause, resume, limit -------------------------------------------
#
# A change is one row of QueueState, committed with a NOTIFY (PostgreSQL;
# on SQLite the commit itself wakes idle workers). Every worker re-reads
# the rows at least twice a second before it claims, so a change holds
# across all workers within about a second, without a restart, and
# survives restarts. Tasks already running are not touched.


def pause_queue(name: str, *, backend: str = "default") -> None:
    """Stop every worker from starting tasks of queue ``name``; queued tasks wait.

    Running tasks finish; tasks a worker had claimed but not started go
    back to the queue. Lasts until :func:`resume_queue`, across restarts.
    Returns once every worker has had time to see the pause (about 0.6 s):
    from then on no task of the queue starts. Call it outside
    ``transaction.atomic()``, so that the pause is committed first.
    """
    _write_state(backend, name, paused=True)
    logger.info("queue %s paused", name, extra={"action": "queue_paused", "queue": name})
    # Every worker re-reads the states before it starts a task, at most this
    # long after the last read: once it has passed, no task of the queue
    # starts anywhere, whenever it was enqueued.
    time.sleep(STATE_REFRESH_SECONDS + PAUSE_MARGIN_SECONDS)


def resume_queue(name: str, *, backend: str = "default") -> None:
    """Let workers start tasks of queue ``name`` again (undoes :func:`pause_queue`)."""
    _write_state(backend, name, paused=False)
    logger.info("queue %s resumed", name, extra={"action": "queue_resumed", "queue": name})


def set_queue_limit(name: str, limit: int | None, *, backend: str = "default") -> None:
    """Cap the running tasks of queue ``name`` at ``limit``, across all workers.

    Overrides ``OPTIONS["QUEUE_LIMITS"]`` until called again; ``None``
    goes back to the setting (no limit if it has none). Lowering a limit
    stops new starts until the queue's running tasks are below it; it
    does not interrupt them.
    """
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise InvalidQueueOperation(
            f"limit of queue {name!r} must be None or a whole number of at least 1, got "
            f"{limit!r}. To stop a queue altogether, use pause_queue({name!r})."
        )
    _write_state(backend, name, limit_override=limit)
    logger.info(
        "queue %s limit set to %s",
        name,
        "the setting's" if limit is None else limit,
        extra={"action": "queue_limit_set", "queue": name},
    )


async def apause_queue(name: str, *, backend: str = "default") -> None:
    """Async twin of :func:`pause_queue`."""
    await sync_to_async(pause_queue, thread_sensitive=True)(name, backend=backend)


async def aresume_queue(name: str, *, backend: str = "default") -> None:
    """Async twin of :func:`resume_queue`."""
    await sync_to_async(resume_queue, thread_sensitive=True)(name, backend=backend)


async def aset_queue_limit(name: str, limit: int | None, *, backend: str = "default") -> None:
    """Async twin of :func:`set_queue_limit`."""
    await sync_to_async(set_queue_limit, thread_sensitive=True)(name, limit, backend=backend)


def _check_queue(backend: str, name: str) -> Options:
    """The backend's options, once ``name`` is known to be one of its queues."""
    from django_taskflow.backend import TaskflowBackend

    if backend not in task_backends.settings:
        raise InvalidQueueOperation(f"backend {backend!r} is not in TASKS.")
    instance = task_backends[backend]
    if not isinstance(instance, TaskflowBackend):
        raise InvalidQueueOperation(
            f"TASKS[{backend!r}] uses {type(instance).__name__}, not django_taskflow's backend."
        )
    if not isinstance(name, str) or not name or len(name) > NAME_MAX_LENGTH:
        raise InvalidQueueOperation(f"queue must be the name of a queue, got {name!r}.")
    if instance.queues and name not in instance.queues:
        known = ", ".join(repr(queue) for queue in sorted(instance.queues))
        raise InvalidQueueOperation(
            f"queue {name!r} is not in TASKS[{backend!r}]['QUEUES'] ({known})."
        )
    return instance.config


def _write_state(backend: str, name: str, **changes: object) -> None:
    from django_taskflow import models  # not at import: __init__ exports this module

    database = _check_queue(backend, name).database
    with transaction.atomic(using=database):
        models.QueueState.objects.using(database).update_or_create(
            backend=backend, name=name, defaults=changes
        )
        with connections[database].cursor() as cursor:
            dialect_for(database).notify(cursor)  # sent at commit: idle workers look again


# -- running again: requeue, retry now (issue 10) -------------------------------
#
# Both take ids, a queryset (the admin's "select all") or filters, and work
# through them in chunks of rerun.CHUNK ids, read by keyset on the primary
# key: a selection of 100,000 tasks is never loaded at once.


def requeue(
    task_ids: TaskSelection = None,
    *,
    name: str | None = None,
    tag: str | None = None,
    queue: str | None = None,
    status: str | Iterable[str] | None = None,
    by: Any = None,
    backend: str = "default",
) -> rerun.Report:
    """Enqueue a new task with the same inputs for each finished task selected.

    Select with ``task_ids`` (one id, several, or a queryset of tasks) or
    with the filters of ``find_tasks`` (at least one). The new task's
    ``original`` is the id of the task it repeats; the original is left as
    it is. Queued and running tasks are refused, and so is a ``unique=True``
    task while another copy of it is queued or running. Returns a
    :class:`~django_taskflow.rerun.Report`: ``changed`` (tasks made),
    ``refused`` (count by reason) and ``new_ids``.
    """
    who = _who(by)
    return in_chunks(
        lambda database, ids: rerun.requeue(database, ids, by=who),
        task_ids,
        name=name,
        tag=tag,
        queue=queue,
        status=status,
        backend=backend,
        operation="requeue",
    )


def retry_now(
    task_ids: TaskSelection = None,
    *,
    name: str | None = None,
    tag: str | None = None,
    queue: str | None = None,
    status: str | Iterable[str] | None = None,
    by: Any = None,
    backend: str = "default",
) -> rerun.Report:
    """Put each failed or waiting task selected back in the queue, to run at once.

    The one way out of ``failed``: the task gets one more allowed attempt,
    and keeps its earlier attempts. A queued task waiting for its
    ``run_after`` (a retry's back-off) runs now. A ``retried`` event
    records ``by``. Other states are refused with the reason; selection
    and return value as in :func:`requeue`.
    """
    who = _who(by)
    return in_chunks(
        lambda database, ids: rerun.retry_now(database, ids, by=who),
        task_ids,
        name=name,
        tag=tag,
        queue=queue,
        status=status,
        backend=backend,
        operation="retry_now",
    )


async def arequeue(
    task_ids: TaskSelection = None,
    *,
    name: str | None = None,
    tag: str | None = None,
    queue: str | None = None,
    status: str | Iterable[str] | None = None,
    by: Any = None,
    backend: str = "default",
) -> rerun.Report:
    """Async twin of :func:`requeue`."""
    return await sync_to_async(requeue, thread_sensitive=True)(
        task_ids, name=name, tag=tag, queue=queue, status=status, by=by, backend=backend
    )


async def aretry_now(
    task_ids: TaskSelection = None,
    *,
    name: str | None = None,
    tag: str | None = None,
    queue: str | None = None,
    status: str | Iterable[str] | None = None,
    by: Any = None,
    backend: str = "default",
) -> rerun.Report:
    """Async twin of :func:`retry_now`."""
    return await sync_to_async(retry_now, thread_sensitive=True)(
        task_ids, name=name, tag=tag, queue=queue, status=status, by=by, backend=backend
    )


def cancel_selected(
    task_ids: TaskSelection, *, reason: str = "", by: Any = None, backend: str = "default"
) -> rerun.Report:
    """Cancel the selected tasks (ids or a queryset) in chunks; report the rest.

    As :func:`cancel` for each: queued ones are cancelled, running ones
    asked to stop; finished ones and those already asked are refused.
    """
    who, why = _who(by), _why(reason)

    def write(database: str, ids: list[uuid.UUID]) -> rerun.Report:
        count = cancellation.cancel(database, ids, by=who, reason=why)
        report = rerun.Report(changed=count)
        if len(ids) > count:
            report.refused["it is finished, or already asked to stop"] += len(ids) - count
        return report

    return in_chunks(
        write,
        task_ids,
        name=None,
        tag=None,
        queue=None,
        status=None,
        backend=backend,
        operation="cancel_selected",
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

    who = _who(by)
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
        definition = definition.using(tags=task.tags, key=task.key)
    edited_arguments.check(definition, args, kwargs)
    with transaction.atomic(using=database):
        result = definition.enqueue(*args, **kwargs)
        if getattr(result, "deduplicated", False):
            raise InvalidQuery(f"task {task.pk}: {rerun.TAKEN}.")
        models.Task.objects.using(database).filter(pk=result.id).update(original=task.pk)
        rerun.record(database, [uuid.UUID(result.id)], models.EventKind.REQUEUED, {"by": who})
    return result


def discard(task_ids: TaskSelection, *, by: Any = None, backend: str = "default") -> rerun.Report:
    """Delete the failed tasks selected, with their attempts and events; report the rest.

    Dead letters only: any other state is refused. Deleting, not marking,
    is the decision (docs/howto/admin.md): a discarded task is one the
    operator has dealt with, and the log line keeps who did it.
    """
    who = _who(by)

    def write(database: str, ids: list[uuid.UUID]) -> rerun.Report:
        with transaction.atomic(using=database):
            won = list(
                models.Task.objects.using(database)
                .select_for_update()
                .filter(pk__in=ids, status=Status.FAILED)
                .values_list("pk", flat=True)
            )
            models.Task.objects.using(database).filter(pk__in=won).only("pk").delete()
        for task_id in won:
            logger.info(
                "failed task %s discarded by %s",
                task_id,
                who or "an operator",
                extra={"action": "task_discarded", "task_id": str(task_id)},
            )
        report = rerun.Report(changed=len(won))
        if len(ids) > len(won):
            report.refused["it is not failed"] += len(ids) - len(won)
        return report

    return in_chunks(
        write,
        task_ids,
        name=None,
        tag=None,
        queue=None,
        status=None,
        backend=backend,
        operation="discard",
    )


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

    who = _who(by)
    lease_seconds = stuck.lease_seconds(backend)
    return in_chunks(
        lambda database, ids: stuck.recover(database, ids, by=who, lease_seconds=lease_seconds),
        task_ids,
        name=None,
        tag=None,
        queue=None,
        status=None,
        backend=backend,
        operation="recover_stuck",
    )


async def acancel_selected(
    task_ids: TaskSelection, *, reason: str = "", by: Any = None, backend: str = "default"
) -> rerun.Report:
    """Async twin of :func:`cancel_selected`."""
    return await sync_to_async(cancel_selected, thread_sensitive=True)(
        task_ids, reason=reason, by=by, backend=backend
    )


async def aretry_with_arguments(
    task_id: str | uuid.UUID,
    *,
    args: Sequence[Any],
    kwargs: dict[str, Any],
    by: Any = None,
    backend: str = "default",
) -> Any:
    """Async twin of :func:`retry_with_arguments`."""
    return await sync_to_async(retry_with_arguments, thread_sensitive=True)(
        task_id, args=args, kwargs=kwargs, by=by, backend=backend
    )


async def adiscard(
    task_ids: TaskSelection, *, by: Any = None, backend: str = "default"
) -> rerun.Report:
    """Async twin of :func:`discard`."""
    return await sync_to_async(discard, thread_sensitive=True)(task_ids, by=by, backend=backend)


async def arecover_stuck(
    task_ids: TaskSelection, *, by: Any = None, backend: str = "default"
) -> rerun.Report:
    """Async twin of :func:`recover_stuck`."""
    return await sync_to_async(recover_stuck, thread_sensitive=True)(
        task_ids, by=by, backend=backend
    )


# -- deleting: purge a queue, prune history ----------------------------------------
#
# Both delete in chunks of short transactions (retention.py); attempts and
# events go with their task. Neither touches a running task.


def purge_queue(name: str, *, dry_run: bool = False, backend: str = "default") -> int:
    """Delete every queued task of queue ``name``; return how many (would) go.

    Running tasks finish; a task claimed while the purge runs is left to
    run. With ``dry_run``, counts and deletes nothing. Raises
    :class:`InvalidQueueOperation` for a queue the backend does not have.
    """
    from django_taskflow import retention

    database = _check_queue(backend, name).database
    if dry_run:
        return (
            models.Task.objects.using(database)
            .filter(backend=backend, queue_name=name, status=Status.QUEUED)
            .count()
        )
    count = retention.purge_queue(database, backend, name)
    logger.info(
        "queue %s purged: %d queued tasks deleted",
        name,
        count,
        extra={"action": "queue_purged", "queue": name},
    )
    return count


def prune(
    older_than: timedelta,
    *,
    status: str | Iterable[str] | None = None,
    dry_run: bool = False,
    backend: str = "default",
) -> PruneReport:
    """Delete finished tasks over ``older_than`` (a timedelta) old; see ``retention.prune``."""
    from django_taskflow import retention

    return retention.prune(older_than, status=status, dry_run=dry_run, backend=backend)
