"""The database tables: tasks, their attempts, their events and dedup keys."""

from __future__ import annotations

from django_taskflow.models.attempt import Attempt
from django_taskflow.models.dedup import DedupKey
from django_taskflow.models.event import Event, EventKind
from django_taskflow.models.task import Task, TaskQuerySet, new_task_id

__all__ = ["Attempt", "DedupKey", "Event", "EventKind", "Task", "TaskQuerySet", "new_task_id"]
