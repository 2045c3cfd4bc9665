"""Cancel requests as a worker reads them: who asked a running task to stop, when, why.

``cancellation.cancel`` stores the request on the task's row; a slot's
lease keeper reads the requests for its tasks (``pending_requests``),
``run_tasks()`` one task's (``request_for``). How long ago each was made is
measured by the database's clock, so the grace is the same on every host.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.utils import timezone

from django_taskflow import models
from django_taskflow.db import LeaseUntil
from django_taskflow.states import Status


@dataclass(frozen=True, slots=True, kw_only=True)
class CancelRequest:
    """A stored request to stop a running task, as its worker reads it."""

    task_id: str
    attempt: int
    requested_at: datetime
    by: str
    reason: str
    waited: float  # seconds since the request, by the database's clock

    def describe(self) -> str:
        """The message the attempt records: who cancelled it, and why."""
        return describe(self.by, self.reason)


def describe(by: str, reason: str) -> str:
    text = f"cancelled by {by}" if by else "cancelled"
    return f"{text}: {reason}" if reason else text


def _request(
    task_id: str,
    attempt: int,
    requested_at: datetime | None,
    by: str,
    reason: str,
    clock: datetime | None,
) -> CancelRequest:
    requested_at = requested_at or timezone.now()
    waited = (clock - requested_at).total_seconds() if clock is not None else 0.0
    return CancelRequest(
        task_id=task_id,
        attempt=attempt,
        requested_at=requested_at,
        by=by,
        reason=reason,
        waited=max(0.0, waited),
    )


def pending_requests(database: str, worker_id: str) -> list[CancelRequest]:
    """The cancel requests for tasks ``worker_id`` holds (its running-task index)."""
    rows = (
        models.Task.objects.using(database)
        .filter(status=Status.RUNNING, worker_id=worker_id, cancel_requested_at__isnull=False)
        .order_by()
        .annotate(clock=LeaseUntil(0))
        .values_list(
            "pk", "attempts", "cancel_requested_at", "cancelled_by", "cancel_reason", "clock"
        )
    )
    return [
        _request(str(pk), attempts, requested_at, by, reason, clock)
        for pk, attempts, requested_at, by, reason, clock in rows
    ]


def request_for(database: str, task_id: str) -> CancelRequest | None:
    """The cancel request stored on one running task, if any (``run_tasks()`` asks this)."""
    row = (
        models.Task.objects.using(database)
        .filter(pk=task_id, status=Status.RUNNING, cancel_requested_at__isnull=False)
        .annotate(clock=LeaseUntil(0))
        .values_list("attempts", "cancel_requested_at", "cancelled_by", "cancel_reason", "clock")
        .first()
    )
    return None if row is None else _request(task_id, *row)
