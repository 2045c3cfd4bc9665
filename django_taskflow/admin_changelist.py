"""The task list's page: what is read for the rows shown, and nothing for the rest.

The progress bar needs the attempt of a task's last progress event. As a
subquery of the list's query it runs for every row the page skips (page
1,000 skips 99,900: a second); here it runs once, for the page's rows that
show progress.
"""

from __future__ import annotations

from typing import Any

from django.contrib.admin.views.main import ChangeList
from django.db.models import IntegerField, OuterRef, QuerySet, Subquery
from django.http import HttpRequest

from django_taskflow import models
from django_taskflow.states import Status


def last_progress_attempt() -> Subquery:
    """The attempt number of the task's (``OuterRef("pk")``) last progress event."""
    events = models.Event.objects.filter(task=OuterRef("pk"), kind=models.EventKind.PROGRESS)
    return Subquery(events.order_by("-id").values("attempt")[:1], output_field=IntegerField())


def with_progress_attempts(tasks: QuerySet[models.Task] | list[models.Task]) -> list[models.Task]:
    """``tasks`` as a list, each with ``progress_attempt`` set where its progress may show."""
    rows = list(tasks)
    reported = [
        task.pk for task in rows if task.progress is not None and task.status != Status.QUEUED
    ]
    attempts: dict[Any, int | None] = {}
    if reported:
        attempts = dict(
            models.Task.objects.filter(pk__in=reported)
            .annotate(progress_attempt=last_progress_attempt())
            .values_list("pk", "progress_attempt")
        )
    for task in rows:
        task.progress_attempt = attempts.get(task.pk)  # type: ignore[attr-defined]
    return rows


class TaskChangeList(ChangeList):
    """Django's change list, reading the progress attempts of the page's rows only."""

    def get_results(self, request: HttpRequest) -> None:
        super().get_results(request)
        self.result_list = with_progress_attempts(self.result_list)
