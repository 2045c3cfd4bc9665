"""What a websocket client receives: one frame per event, or a task's or service's current state.

A frame is a plain dict, the same on the channel layer and on the socket::

    {"type": "task", "task": "<id>", "status": "running", "event": "progress",
     "progress": 0.42, "message": "Importing rows", "at": "<ISO 8601>",
     "name": "myapp.tasks.import_rows", "tags": ["imports"], "attempt": 1}

    {"type": "service", "service": "ride-42", "state": "running", "event": "emitted",
     "owner": "<worker id>", "at": "<ISO 8601>", "data": {"lat": 12.97}}

A task frame carries no arguments, results, details or error messages:
those are payload, which a user may not be allowed to see. A service
frame carries its event's data, which the consumer strips of error
messages for a user who may not see payload (``access.public_service_data``).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from django.db.models import OuterRef, Subquery

from django_taskflow.states import Status

if TYPE_CHECKING:
    from django_taskflow.events import TaskEvent
    from django_taskflow.services.log import ServiceEventRecord

type Frame = dict[str, Any]


def frame(event: TaskEvent) -> Frame:
    """The frame announcing ``event``."""
    return {
        "type": "task",
        "task": event.task_id,
        "status": event.status,
        "event": event.kind.value,
        "progress": event.progress,
        "message": event.data.get("message"),
        "at": event.created_at.isoformat(),
        "name": event.task_name,
        "tags": list(event.tags or ()),
        "attempt": event.attempt,
    }


def current_frames(task_ids: Iterable[str], database: str = "default") -> list[Frame]:
    """A frame per task giving its state now (``"event": "current"``), in two queries' worth.

    Progress and its message are those of the current attempt, as the
    admin shows them; a queued task has none.
    """
    from django_taskflow import models
    from django_taskflow.models import EventKind

    last_progress = models.Event.objects.filter(
        task=OuterRef("pk"), kind=EventKind.PROGRESS
    ).order_by("-id")
    tasks = (
        models.Task.objects.using(database)
        .filter(pk__in=list(task_ids))
        .annotate(
            progress_attempt=Subquery(last_progress.values("attempt")[:1]),
            progress_message=Subquery(last_progress.values("data__message")[:1]),
            progress_at=Subquery(last_progress.values("created_at")[:1]),
        )
        .order_by("pk")
    )
    frames = []
    for row in tasks.values(
        "pk",
        "status",
        "progress",
        "attempts",
        "task_path",
        "tags",
        "enqueued_at",
        "started_at",
        "finished_at",
        "progress_attempt",
        "progress_message",
        "progress_at",
    ):
        current = row["status"] != Status.QUEUED and row["progress_attempt"] == row["attempts"]
        at = row["finished_at"] or (row["progress_at"] if current else None) or row["started_at"]
        frames.append(
            {
                "type": "task",
                "task": str(row["pk"]),
                "status": row["status"],
                "event": "current",
                "progress": row["progress"] if current else None,
                "message": row["progress_message"] if current else None,
                "at": (at or row["enqueued_at"]).isoformat(),
                "name": row["task_path"],
                "tags": list(row["tags"] or ()),
                "attempt": row["attempts"],
            }
        )
    return frames


def service_frame(event: ServiceEventRecord) -> Frame:
    """The frame announcing a service's event."""
    from django_taskflow.services.log import KIND_STATE

    return {
        "type": "service",
        "service": event.service,
        "state": KIND_STATE.get(event.kind, "running"),
        "event": event.kind,
        "owner": event.owner,
        "at": event.created_at.isoformat(),
        "data": event.data,
    }


def current_service_frame(name: str, database: str = "default") -> Frame | None:
    """A frame giving the service's state now (``"event": "current"``); None if it has none."""
    from django_taskflow import models

    row = (
        models.Service.objects.using(database)
        .filter(name=name)
        .values("state", "owner", "created_at", "started_at", "stopped_at")
        .first()
    )
    if row is None:
        return None
    at = row["stopped_at"] or row["started_at"] or row["created_at"]
    return {
        "type": "service",
        "service": name,
        "state": row["state"],
        "event": "current",
        "owner": row["owner"],
        "at": at.isoformat(),
        "data": {},
    }
