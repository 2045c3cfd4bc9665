"""Filters of the task list (django-filter), each served by an index of the task table.

``name`` is a task's full path or its function name, as in
``find_tasks``; ``tag`` uses the tags index (GIN on PostgreSQL). Dates
bound ``enqueued_at`` and ``finished_at``.
"""

from __future__ import annotations

import django_filters
from rest_framework.exceptions import ValidationError

from django_taskflow import models, queries
from django_taskflow.exceptions import AmbiguousTaskName, InvalidQuery, UnknownTask
from django_taskflow.states import Status


class TaskFilter(django_filters.FilterSet):  # type: ignore[misc]  # django-filter is untyped
    # distinct=False: no join can repeat a row, and DISTINCT would make the
    # database read every matching row before the first page (70 ms at 10,000).
    status = django_filters.MultipleChoiceFilter(
        choices=Status.choices,
        distinct=False,
        help_text="One or more statuses: ?status=failed&status=cancelled.",
    )
    name = django_filters.CharFilter(
        method="filter_name", help_text="A task's full path, or a function name one task has."
    )
    queue = django_filters.CharFilter(field_name="queue_name")
    tag = django_filters.CharFilter(method="filter_tag", help_text="Tasks labelled with this tag.")
    key = django_filters.CharFilter(field_name="key")
    enqueued_after = django_filters.IsoDateTimeFilter(field_name="enqueued_at", lookup_expr="gte")
    enqueued_before = django_filters.IsoDateTimeFilter(field_name="enqueued_at", lookup_expr="lt")
    finished_after = django_filters.IsoDateTimeFilter(field_name="finished_at", lookup_expr="gte")
    finished_before = django_filters.IsoDateTimeFilter(field_name="finished_at", lookup_expr="lt")

    class Meta:
        model = models.Task
        fields: list[str] = []

    def filter_name(self, tasks: models.TaskQuerySet, name: str, value: str) -> models.TaskQuerySet:
        try:
            return tasks.filter(task_path=queries.resolve_name(value))
        except (AmbiguousTaskName, UnknownTask, InvalidQuery) as exc:
            raise ValidationError({"name": [str(exc)]}) from exc

    def filter_tag(self, tasks: models.TaskQuerySet, name: str, value: str) -> models.TaskQuerySet:
        return queries.having_tag(tasks, value)
