"""The task list's own filters and search: task name, queue, tag, worker, and
id / key / name prefix.

Each reads through an index: the name and the queue through
``taskflow_task_path_idx`` and ``taskflow_task_queue_idx``, tags through the
GIN index on PostgreSQL (migration 0005), the worker through the partial
index on running tasks, the name prefix through
``taskflow_task_path_prefix_idx``, id and key exactly. Their choices come
from the code (registered tasks), from small tables and from the most recent
rows, never from the whole history: Django's default choices for a field,
``SELECT DISTINCT`` over every row, take seconds at 10 M tasks.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any

from django.contrib import admin
from django.db import connections
from django.db.models import BooleanField, Q, QuerySet
from django.db.models.expressions import RawSQL
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from django_taskflow import models, registry
from django_taskflow.db import dialect_for
from django_taskflow.states import Status

# The filters offer the names, queues and tags of this many most recent tasks.
RECENT_TASKS = 500


# The columns the filters offer values of.
OFFERED_FIELDS = ("task_path", "queue_name", "tags")


def recent_values(request: HttpRequest, field: str) -> list[Any]:
    """``field`` of the most recent tasks: one short walk of the enqueue-time index,
    made once per request for all the filters."""
    recent: dict[str, list[Any]] | None = getattr(request, "_taskflow_recent_values", None)
    if recent is None:
        rows = models.Task.objects.order_by("-enqueued_at").values_list(*OFFERED_FIELDS)
        columns = list(zip(*rows[:RECENT_TASKS], strict=True)) or [()] * len(OFFERED_FIELDS)
        recent = {name: list(values) for name, values in zip(OFFERED_FIELDS, columns, strict=True)}
        request._taskflow_recent_values = recent  # type: ignore[attr-defined]
    return recent[field]


class ExactValueFilter(admin.SimpleListFilter):
    """Tasks whose ``field`` equals the chosen value; choices from :meth:`known_values`.

    The parameter keeps the name Django's own field filter gives it
    (``field__exact``), so links made for it still work; any value is
    taken, offered or not.
    """

    field = ""

    def known_values(self) -> set[str]:
        """Values to offer beside those of recent rows (subclasses add what they know)."""
        return set()

    def lookups(self, request: HttpRequest, model_admin: Any) -> Iterable[tuple[str, str]]:
        values = self.known_values() | set(recent_values(request, self.field))
        if self.value():
            values.add(str(self.value()))
        return [(value, value) for value in sorted(value for value in values if value)]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        value = self.value()
        return queryset.filter(**{self.field: value}) if value else queryset


class TaskNameFilter(ExactValueFilter):
    """Tasks of one task path; offers the tasks defined in the code and recently run."""

    title = _("task")
    parameter_name = "task_path__exact"
    field = "task_path"

    def known_values(self) -> set[str]:
        return set(registry.known_paths())


class QueueFilter(ExactValueFilter):
    """Tasks on one queue; offers the queues of defined tasks, paused or limited
    queues, and those recently used."""

    title = _("queue")
    parameter_name = "queue_name__exact"
    field = "queue_name"

    def known_values(self) -> set[str]:
        defined = {registry.resolve(path).queue_name for path in registry.known_paths()}
        return defined | set(models.QueueState.objects.values_list("name", flat=True))


class TagFilter(admin.SimpleListFilter):
    """Tasks carrying one tag; offers the tags of recent tasks (``?tag=`` takes any)."""

    title = _("tag")
    parameter_name = "tag"

    def lookups(self, request: HttpRequest, model_admin: Any) -> Iterable[tuple[str, str]]:
        recent = recent_values(request, "tags")
        tags = {tag for tags in recent for tag in (tags or ()) if isinstance(tag, str)}
        return [(tag, tag) for tag in sorted(tags)]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        tag = self.value()
        if not tag:
            return queryset
        database = queryset.db
        table = connections[database].ops.quote_name(models.Task._meta.db_table)
        # Vendor SQL of our own (as queries.filter_tasks); the tag is a bound parameter.
        has_tag = RawSQL(  # noqa: S611
            dialect_for(database).has_tag_sql(table), [tag], output_field=BooleanField()
        )
        return queryset.filter(has_tag)


class WorkerFilter(admin.SimpleListFilter):
    """Tasks running on one worker slot; offers the workers running tasks now."""

    title = _("worker")
    parameter_name = "worker"

    def lookups(self, request: HttpRequest, model_admin: Any) -> Iterable[tuple[str, str]]:
        workers = (
            model_admin.model.objects.filter(status=Status.RUNNING)
            .order_by("worker_id")
            .values_list("worker_id", flat=True)
            .distinct()
        )
        return [(worker, worker) for worker in workers if worker]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        worker = self.value()
        if not worker:
            return queryset
        # A finished task keeps no worker id; the status names the partial
        # index on running tasks, without which this reads the whole table.
        return queryset.filter(status=Status.RUNNING, worker_id=worker)


def search_tasks(queryset: QuerySet[Any], term: str) -> QuerySet[Any]:
    """Tasks whose id is ``term``, whose key is ``term``, or whose path starts with it.

    Exact id and key, and a case-sensitive prefix of the task path: each is
    one index range, so a search never scans the history.
    """
    term = term.strip()
    if not term:
        return queryset
    match = Q(key=term) | Q(task_path__startswith=term)
    task_id = _as_id(term)
    if task_id is not None:
        match |= Q(pk=task_id)
    return queryset.filter(match)


def _as_id(term: str) -> uuid.UUID | None:
    """``term`` as a task id, or None when it is not one (then key and name only)."""
    try:
        return uuid.UUID(term)
    except ValueError:
        return None
