"""The database tables: tasks, their attempts and their events, and rate-limit starts."""

from __future__ import annotations

from django_taskflow.models.attempt import Attempt
from django_taskflow.models.event import Event, EventKind
from django_taskflow.models.rate_start import RateStart
from django_taskflow.models.task import Task, TaskQuerySet, new_task_id

__all__ = ["Attempt", "Event", "EventKind", "RateStart", "Task", "TaskQuerySet", "new_task_id"]
