"""Why a queued task waits, and until when: worked out for display, never in the claim.

The claim decides by counting (``db/gates.py``); the admin (and later the
API) asks here to explain a queued task that has not started.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.utils import timezone

from django_taskflow import models
from django_taskflow.states import Status


@dataclass(frozen=True, slots=True)
class LimitWait:
    """A limit that holds a queued task back: what it is, and when it may lift."""

    reason: str
    until: datetime | None = None  # None: when a running task of its group ends


def concurrency_reason(task: models.Task) -> LimitWait | None:
    """The task's concurrency cap, if its group is full now; None if it is not held back."""
    if task.status != Status.QUEUED or not task.concurrency_key or not task.concurrency_limit:
        return None
    running = (
        models.Task.objects.using(task._state.db)
        .filter(concurrency_key=task.concurrency_key, status=Status.RUNNING)
        .count()
    )
    if running < task.concurrency_limit:
        return None
    return LimitWait(
        f"its concurrency cap: {running} of at most {task.concurrency_limit} tasks of "
        f"group {task.concurrency_key} are running; it starts when one of them ends"
    )


def rate_limit_reason(task: models.Task, now: datetime | None = None) -> LimitWait | None:
    """The task's rate limit, if its window is full now, with the instant it opens."""
    if task.status != Status.QUEUED or not task.rate_key or not task.rate_limit:
        return None
    now = now or timezone.now()
    per = timedelta(seconds=task.rate_seconds or 0)
    starts = list(
        models.RateStart.objects.using(task._state.db)
        .filter(rate_key=task.rate_key, started_at__gt=now - per)
        .order_by("started_at")
        .values_list("started_at", flat=True)
    )
    if len(starts) < task.rate_limit:
        return None
    # One more may start once enough of the window's starts have left it.
    until = starts[len(starts) - task.rate_limit] + per
    return LimitWait(
        f"its rate limit: {len(starts)} of at most {task.rate_limit} starts of "
        f"group {task.rate_key} in the last {_duration(per)}",
        until=until,
    )


def limit_reasons(task: models.Task, now: datetime | None = None) -> list[LimitWait]:
    """Every limit that holds the task back now (empty: none of them does)."""
    found = [concurrency_reason(task), rate_limit_reason(task, now)]
    return [reason for reason in found if reason is not None]


def _duration(per: timedelta) -> str:
    seconds = per.total_seconds()
    for unit, size in (("h", 3600), ("min", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds / size:g} {unit}"
    return f"{seconds:g} s"
