"""The task list's own filters and search: tag, worker, and id / key / name prefix.

Each reads through an index: tags through the GIN index on PostgreSQL
(migration 0004), the worker through the partial index on running tasks,
the name prefix through ``taskflow_task_path_idx``, id and key exactly.
Their choices are read from recent or running rows only, never from the
whole history.
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

from django_taskflow import models
from django_taskflow.db import dialect_for
from django_taskflow.states import Status

# The tag filter offers the tags of this many most recent tasks.
RECENT_TASKS_FOR_TAGS = 500


class TagFilter(admin.SimpleListFilter):
    """Tasks carrying one tag; offers the tags of recent tasks (``?tag=`` takes any)."""

    title = _("tag")
    parameter_name = "tag"

    def lookups(self, request: HttpRequest, model_admin: Any) -> Iterable[tuple[str, str]]:
        recent = (
            model_admin.model.objects.order_by("-enqueued_at").values_list("tags", flat=True)
        )[:RECENT_TASKS_FOR_TAGS]
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
        return queryset.filter(worker_id=worker) if worker else queryset


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
