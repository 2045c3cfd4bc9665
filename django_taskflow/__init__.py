"""django_taskflow: reliable, observable background tasks on your database."""

from __future__ import annotations

from django_taskflow.definition import TaskflowTask, task
from django_taskflow.exceptions import (
    ConfigurationError,
    InvalidTaskOptions,
    PayloadTooLarge,
    ResultNotFound,
    ResultTimeout,
    TaskflowError,
    UnknownTask,
    UnserializablePayload,
    WorkerInterrupted,
    WorkerLost,
)
from django_taskflow.execution.context import TaskContext

__all__ = [
    "ConfigurationError",
    "InvalidTaskOptions",
    "PayloadTooLarge",
    "ResultNotFound",
    "ResultTimeout",
    "TaskContext",
    "TaskflowError",
    "TaskflowTask",
    "UnknownTask",
    "UnserializablePayload",
    "WorkerInterrupted",
    "WorkerLost",
    "task",
]
