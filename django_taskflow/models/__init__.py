"""The database tables: tasks, their attempts and their events; dedup keys, queue states."""

from __future__ import annotations

from django_taskflow.models.attempt import Attempt
from django_taskflow.models.dedup import DedupKey
from django_taskflow.models.event import Event, EventKind
from django_taskflow.models.queue_state import QueueState
from django_taskflow.models.task import Task, TaskQuerySet, new_task_id

__all__ = [
    "Attempt",
    "DedupKey",
    "Event",
    "EventKind",
    "QueueState",
    "Task",
    "TaskQuerySet",
    "new_task_id",
]
