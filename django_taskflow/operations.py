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
from collections.abc import Iterable
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from asgiref.sync import sync_to_async
from django.core.exceptions import ValidationError
from django.db import connections, transaction
from django.tasks import task_backends

from django_taskflow import cancellation, models, queries
from django_taskflow.conf import Options
from django_taskflow.db import dialect_for
from django_taskflow.definition import NAME_MAX_LENGTH
from django_taskflow.exceptions import InvalidQuery, InvalidQueueOperation, ResultNotFound
from django_taskflow.queues import STATE_REFRESH_SECONDS
from django_taskflow.states import CANCELLABLE, Status

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
