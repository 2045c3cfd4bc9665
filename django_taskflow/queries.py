"""Read-only questions about tasks: find them, count them, list their history.

Each query reads through an index: ``taskflow_task_path_idx`` (task path,
newest first) for a name, ``taskflow_task_status_idx`` for a status, and
``taskflow_task_enqueued_idx`` for the newest-first order otherwise. A
``name`` is a task's full path (``myapp.tasks.send_email``) or its function
name (``send_email``) when exactly one task defined in this code base has
it. ``operations.cancel_tasks`` selects with the same filters.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from asgiref.sync import sync_to_async
from django.db import connections
from django.db.models import BooleanField, Count
from django.db.models.expressions import RawSQL
from django.tasks import task_backends
from django.tasks.exceptions import InvalidTaskBackend
from django.utils import timezone

from django_taskflow import models, registry
from django_taskflow.conf import Options
from django_taskflow.db import dialect_for
from django_taskflow.exceptions import AmbiguousTaskName, InvalidQuery, UnknownTask
from django_taskflow.states import Status

__all__ = [
    "HistoryEntry",
    "afind_tasks",
    "ahistory",
    "astatus_counts",
    "find_tasks",
    "history",
    "resolve_name",
    "status_counts",
]


def database_for(backend: str) -> str:
    """The database alias where ``backend``'s tasks live (its ``OPTIONS["DATABASE"]``)."""
    try:
        config = getattr(task_backends[backend], "config", None)
    except InvalidTaskBackend as exc:
        raise InvalidQuery(f"backend must name a backend in TASKS, got {backend!r}.") from exc
    if not isinstance(config, Options):
        raise InvalidQuery(f"TASKS[{backend!r}] is not a django_taskflow backend.")
    return config.database


def resolve_name(name: str) -> str:
    """The task path ``name`` stands for: itself, or the one task with that function name.

    Raises :class:`AmbiguousTaskName` when several tasks share the function
    name, and :class:`UnknownTask` when no task has it (a full path is
    taken as it is: rows of a task since removed may remain).
    """
    if not isinstance(name, str) or not name:
        raise InvalidQuery(f"name must be a task path or function name, got {name!r}.")
    known = registry.known_paths()
    if name in known or "." in name:
        return name
    matches = [path for path in known if path.rpartition(".")[2] == name]
    if len(matches) > 1:
        raise AmbiguousTaskName(
            f"{name!r} is the function name of several tasks ({', '.join(matches)}): "
            "give the full path of the one you mean."
        )
    if not matches:
        raise UnknownTask(
            f"No task defined in this code base is named {name!r}; give its full path "
            "(myapp.tasks.send_email)."
        )
    return matches[0]


def _statuses(status: str | Iterable[str] | None) -> list[str] | None:
    if status is None:
        return None
    values = [status] if isinstance(status, str) else list(status)
    known = set(Status.values)
    wrong = [value for value in values if value not in known]
    if wrong or not values:
        raise InvalidQuery(
            f"status must be one or more of {', '.join(Status.values)}, got {status!r}."
        )
    return values


def _moment(value: datetime | timedelta | None, argument: str) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, timedelta):
        return timezone.now() - value
    if isinstance(value, datetime):
        if timezone.is_naive(value):
            raise InvalidQuery(f"{argument} must be an aware datetime, got {value!r}.")
        return value
    raise InvalidQuery(
        f"{argument} must be a datetime or a timedelta (that long ago), got {value!r}."
    )


def having_tag(tasks: models.TaskQuerySet, tag: str) -> models.TaskQuerySet:
    """The tasks among ``tasks`` labelled ``tag`` (through the GIN index on PostgreSQL)."""
    if not isinstance(tag, str):
        raise InvalidQuery(f"tag must be a string, got {tag!r}.")
    database = tasks.db
    table = connections[database].ops.quote_name(models.Task._meta.db_table)
    # Vendor SQL of our own; the tag is a bound parameter.
    has_tag = RawSQL(  # noqa: S611
        dialect_for(database).has_tag_sql(table), [tag], output_field=BooleanField()
    )
    return tasks.filter(has_tag)


def filter_tasks(
    *,
    name: str | None = None,
    tag: str | None = None,
    status: str | Iterable[str] | None = None,
    queue: str | None = None,
    since: datetime | timedelta | None = None,
    until: datetime | timedelta | None = None,
    backend: str = "default",
) -> models.TaskQuerySet:
    """The tasks that match every filter given; see :func:`find_tasks`."""
    database = database_for(backend)
    tasks = models.Task.objects.using(database).filter(backend=backend)
    if name is not None:
        tasks = tasks.filter(task_path=resolve_name(name))
    statuses = _statuses(status)
    if statuses is not None:
        tasks = (
            tasks.filter(status=statuses[0])
            if len(statuses) == 1
            else tasks.filter(status__in=statuses)
        )
    if queue is not None:
        if not isinstance(queue, str):
            raise InvalidQuery(f"queue must be a queue name, got {queue!r}.")
        tasks = tasks.filter(queue_name=queue)
    if tag is not None:
        tasks = having_tag(tasks, tag)
    start, end = _moment(since, "since"), _moment(until, "until")
    if start is not None:
        tasks = tasks.filter(enqueued_at__gte=start)
    if end is not None:
        tasks = tasks.filter(enqueued_at__lt=end)
    return tasks


def find_tasks(
    name: str | None = None,
    *,
    tag: str | None = None,
    status: str | Iterable[str] | None = None,
    queue: str | None = None,
    since: datetime | timedelta | None = None,
    until: datetime | timedelta | None = None,
    backend: str = "default",
) -> models.TaskQuerySet:
    """Return the matching tasks, newest first, as a lazy queryset of ``Task`` rows.

    ``name``: a task path, or a function name that one task has. ``status``:
    one status or several. ``since`` and ``until`` bound ``enqueued_at``
    (``since`` included, ``until`` excluded); a ``timedelta`` means that
    long ago. Nothing is read until the queryset is used: slice it, count
    it, filter it further. Raises :class:`InvalidQuery` (a ``ValueError``)
    for a bad argument, :class:`AmbiguousTaskName` or :class:`UnknownTask`
    for a name that names no single task.
    """
    return filter_tasks(
        name=name, tag=tag, status=status, queue=queue, since=since, until=until, backend=backend
    ).order_by("-enqueued_at")


async def afind_tasks(
    name: str | None = None,
    *,
    tag: str | None = None,
    status: str | Iterable[str] | None = None,
    queue: str | None = None,
    since: datetime | timedelta | None = None,
    until: datetime | timedelta | None = None,
    backend: str = "default",
) -> models.TaskQuerySet:
    """Async twin of :func:`find_tasks`: the same lazy queryset, to read with
    ``async for`` or ``acount()``."""
    return find_tasks(
        name, tag=tag, status=status, queue=queue, since=since, until=until, backend=backend
    )


def status_counts(name: str | None = None, *, backend: str = "default") -> dict[str, int]:
    """Return how many tasks (of ``name``, or all) are in each status, zeros included."""
    tasks = filter_tasks(name=name, backend=backend)
    counts = dict.fromkeys(Status.values, 0)
    for status, count in tasks.order_by().values_list("status").annotate(n=Count("pk")):
        counts[status] = count
    return counts


async def astatus_counts(name: str | None = None, *, backend: str = "default") -> dict[str, int]:
    """Async twin of :func:`status_counts`."""
    return await sync_to_async(status_counts, thread_sensitive=True)(name, backend=backend)


@dataclass(frozen=True, slots=True, kw_only=True)
class HistoryEntry:
    """One task in a :func:`history`: when it ran, how long, how many attempts."""

    task_id: str
    task_name: str
    status: str
    queue: str
    enqueued_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    duration: float | None  # seconds from first start to finish
    attempts: int
    cancelled_by: str
    cancel_reason: str


def history(
    name: str,
    *,
    status: str | Iterable[str] | None = None,
    since: datetime | timedelta | None = None,
    limit: int = 100,
    backend: str = "default",
) -> list[HistoryEntry]:
    """Return the last ``limit`` tasks of ``name``, newest first, with duration and attempts."""
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise InvalidQuery(f"limit must be a whole number of at least 1, got {limit!r}.")
    rows = find_tasks(name, status=status, since=since, backend=backend).only(
        "id",
        "task_path",
        "status",
        "queue_name",
        "enqueued_at",
        "started_at",
        "finished_at",
        "attempts",
        "cancelled_by",
        "cancel_reason",
    )[:limit]
    return [
        HistoryEntry(
            task_id=str(task.pk),
            task_name=task.task_path,
            status=task.status,
            queue=task.queue_name,
            enqueued_at=task.enqueued_at,
            started_at=task.started_at,
            finished_at=task.finished_at,
            duration=task.duration,
            attempts=task.attempts,
            cancelled_by=task.cancelled_by,
            cancel_reason=task.cancel_reason,
        )
        for task in rows
    ]


async def ahistory(
    name: str,
    *,
    status: str | Iterable[str] | None = None,
    since: datetime | timedelta | None = None,
    limit: int = 100,
    backend: str = "default",
) -> list[HistoryEntry]:
    """Async twin of :func:`history`."""
    return await sync_to_async(history, thread_sensitive=True)(
        name, status=status, since=since, limit=limit, backend=backend
    )
