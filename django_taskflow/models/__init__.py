"""The database tables: tasks, their attempts and events; dedup keys, queue states, schedules, prune turns."""

from __future__ import annotations

from django_taskflow.models.attempt import Attempt
from django_taskflow.models.dedup import DedupKey
from django_taskflow.models.event import Event, EventKind
from django_taskflow.models.queue_state import QueueState
from django_taskflow.models.retention import PruneTurn
from django_taskflow.models.schedule import RunState, Schedule, ScheduleRun, Source
from django_taskflow.models.task import Task, TaskQuerySet, new_task_id

__all__ = [
    "Attempt",
    "DedupKey",
    "Event",
    "EventKind",
    "PruneTurn",
    "QueueState",
    "RunState",
    "Schedule",
    "ScheduleRun",
    "Source",
    "Task",
    "TaskQuerySet",
    "new_task_id",
]
