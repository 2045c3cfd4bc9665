"""Finished tasks made directly as rows, for the pruning tests (integration and processes)."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from django_taskflow import models


def make_finished(
    count: int, *, status: str = "succeeded", age: timedelta = timedelta(days=40)
) -> list[str]:
    """``count`` tasks of ``status`` finished ``age`` ago, each with an attempt and two events."""
    finished = timezone.now() - age
    rows = models.Task.objects.bulk_create(
        models.Task(
            task_path="tests.tasks.noop",
            status=status,
            attempts=1,
            enqueued_at=finished,
            started_at=finished,
            finished_at=finished,
        )
        for _ in range(count)
    )
    models.Attempt.objects.bulk_create(
        models.Attempt(task=t, number=1, worker_id="w", finished_at=finished, outcome=status)
        for t in rows
    )
    models.Event.objects.bulk_create(
        models.Event(task=t, kind=kind, created_at=finished)
        for t in rows
        for kind in ("started", status)
    )
    return [str(t.pk) for t in rows]


def remaining(ids: list[str]) -> tuple[int, int, int]:
    """(tasks, attempts, events) of ``ids`` still in the database."""
    return (
        models.Task.objects.filter(pk__in=ids).count(),
        models.Attempt.objects.filter(task_id__in=ids).count(),
        models.Event.objects.filter(task_id__in=ids).count(),
    )
