"""The database tables: tasks and their attempts."""

from __future__ import annotations

from django_taskflow.models.attempt import Attempt
from django_taskflow.models.task import Task, TaskQuerySet, new_task_id

__all__ = ["Attempt", "Task", "TaskQuerySet", "new_task_id"]
