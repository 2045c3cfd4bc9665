"""What the dashboard reads: its rows, its counts, its chart, its workers.

Each read goes through an index and is bounded by the page, not by the
history: rows are the newest ``ROW_LIMIT`` of one index (``-enqueued_at``,
or the status, queue or task-path index when filtered) plus the running
tasks; counts of queued and running tasks read only those rows (the status
index), and finished tasks are counted over the last ``WINDOW_MINUTES``
only, through ``taskflow_task_finished_idx``. No ``COUNT(*)`` over the
history, so a 10 M-row table costs what an empty one does.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.db.models import Count, OuterRef, Subquery
from django.db.models.functions import TruncMinute
from django.utils import timezone

from django_taskflow import models, queries, worker_status
from django_taskflow.exceptions import InvalidQuery
from django_taskflow.live.frames import current_frames
from django_taskflow.states import FINISHED, Status

ROW_LIMIT = 50
WINDOW_MINUTES = 15
ACTIVE = (Status.QUEUED, Status.RUNNING)
# The order of the count columns and the chart's series.
STATUS_ORDER: tuple[str, ...] = tuple(
    str(status)
    for status in (Status.QUEUED, Status.RUNNING, Status.SUCCEEDED, Status.FAILED, Status.CANCELLED)
)
FILTER_KEYS = ("status", "queue", "tag", "name")


@dataclass(frozen=True, slots=True, kw_only=True)
class Row:
    """One task as its table row shows it (no payload: no arguments or results)."""

    id: str
    name: str
    queue: str
    status: str
    progress: float | None
    message: str | None
    attempt: int
    enqueued_at: datetime

    @property
    def is_active(self) -> bool:
        return self.status in ACTIVE


@dataclass(frozen=True, slots=True, kw_only=True)
class Summary:
    """The figures above the table."""

    queues: dict[str, dict[str, int]]  # queue -> status -> tasks (finished: last 15 minutes)
    totals: dict[str, int]  # status -> tasks, over every queue
    throughput: dict[str, list[Any]]  # "minutes": epoch seconds; status -> finished per minute
    workers: list[models.WorkerProcess] = field(default_factory=list)


def parse_filter(text: str) -> dict[str, str]:
    """The filter box's words as ``find_tasks`` filters, plus ``id`` for a task id.

    ``status:failed``, ``queue:emails``, ``tag:uploads``, ``name:app.tasks.f``;
    a bare status word or task id needs no key, and any other bare word is a
    task name. Raises :class:`InvalidQuery` for a key it does not know.
    """
    found: dict[str, str] = {}
    for word in text.split():
        key, colon, value = word.partition(":")
        if not colon:
            key, value = _bare_key(word), word
        elif key not in FILTER_KEYS:
            raise InvalidQuery(
                f"Unknown filter {key!r}: use {', '.join(k + ':' for k in FILTER_KEYS)}"
                " or a task id."
            )
        if not value:
            raise InvalidQuery(f"{key}: needs a value.")
        found[key] = value
    return found


def _bare_key(word: str) -> str:
    if word in Status.values:
        return "status"
    try:
        uuid.UUID(word)
    except ValueError:
        return "name"
    return "id"


def task_rows(backend: str, text: str = "", ids: list[str] | None = None) -> list[Row]:
    """The rows matching the filter ``text`` (newest first), only ``ids`` when given.

    Unfiltered, the newest ``ROW_LIMIT`` tasks and up to as many running
    ones, so a long task stays on the page while newer ones finish.
    """
    filters = parse_filter(text)
    task_id = filters.pop("id", None)
    tasks = queries.filter_tasks(
        backend=backend,
        name=filters.get("name"),
        tag=filters.get("tag"),
        status=filters.get("status"),
        queue=filters.get("queue"),
    ).order_by("-enqueued_at")
    if task_id is not None:
        tasks = tasks.filter(pk=task_id)
    if ids is not None:
        tasks = tasks.filter(pk__in=[i for i in ids if _is_uuid(i)][:ROW_LIMIT])
    columns = ("pk", "task_path", "queue_name", "status", "attempts", "enqueued_at")
    picked = {row[0]: row for row in tasks.values_list(*columns)[:ROW_LIMIT]}
    if not filters and task_id is None and ids is None:
        running = tasks.filter(status=Status.RUNNING).values_list(*columns)[:ROW_LIMIT]
        picked.update((row[0], row) for row in running)
    ordered = sorted(picked.values(), key=lambda row: (row[5], row[0]), reverse=True)
    now = {
        frame["task"]: frame
        for frame in current_frames([str(row[0]) for row in ordered], queries.database_for(backend))
    }
    rows = []
    for pk, name, queue, status, attempts, enqueued_at in ordered:
        current = now.get(str(pk), {})
        rows.append(
            Row(
                id=str(pk),
                name=name,
                queue=queue,
                status=current.get("status", status),
                progress=current.get("progress"),
                message=current.get("message"),
                attempt=attempts,
                enqueued_at=enqueued_at,
            )
        )
    return rows


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


def summary(backend: str, now: datetime | None = None) -> Summary:
    """Counts per queue and status, finished tasks per minute, and the live workers."""
    now = now or timezone.now()
    database = queries.database_for(backend)
    tasks = models.Task.objects.using(database).filter(backend=backend).order_by()
    since = now - timedelta(minutes=WINDOW_MINUTES)
    finished = tasks.filter(status__in=sorted(FINISHED), finished_at__gte=since)
    queues: dict[str, dict[str, int]] = {}
    for queue, status, count in (
        *tasks.filter(status__in=ACTIVE).values_list("queue_name", "status").annotate(Count("pk")),
        *finished.values_list("queue_name", "status").annotate(Count("pk")),
    ):
        queues.setdefault(queue, dict.fromkeys(STATUS_ORDER, 0))[status] = count
    totals = dict.fromkeys(STATUS_ORDER, 0)
    for statuses in queues.values():
        for status, count in statuses.items():
            totals[status] += count
    return Summary(
        queues=dict(sorted(queues.items())),
        totals=totals,
        throughput=_per_minute(finished, now),
        workers=list(
            worker_status.workers_alive(using=database).filter(backend=backend).order_by("host")
        ),
    )


def _per_minute(finished: models.TaskQuerySet, now: datetime) -> dict[str, list[Any]]:
    """Finished tasks per minute and status, for each of the last ``WINDOW_MINUTES`` minutes."""
    last = now.replace(second=0, microsecond=0)
    minutes = [last - timedelta(minutes=back) for back in range(WINDOW_MINUTES - 1, -1, -1)]
    series: dict[str, list[Any]] = {str(status): [0] * len(minutes) for status in sorted(FINISHED)}
    index = {minute: position for position, minute in enumerate(minutes)}
    for minute, status, count in (
        finished.annotate(minute=TruncMinute("finished_at"))
        .values_list("minute", "status")
        .annotate(Count("pk"))
    ):
        position = index.get(minute)
        if position is not None:
            series[status][position] = count
    return {"minutes": [int(minute.timestamp()) for minute in minutes], **series}


def service_rows() -> list[models.Service]:
    """The first ``ROW_LIMIT`` services by name, each with its counts and its latest event.

    The latest event is read through the ``(service, id)`` index, one row per service.
    """
    from django_taskflow.services import api

    latest = models.ServiceEvent.objects.filter(service=OuterRef("pk")).order_by("-id")
    return list(
        api.find().annotate(
            last_kind=Subquery(latest.values("kind")[:1]),
            last_at=Subquery(latest.values("created_at")[:1]),
        )[:ROW_LIMIT]
    )
