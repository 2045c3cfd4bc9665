"""django_taskflow: reliable, observable background tasks on your database."""

from __future__ import annotations

from django_taskflow.definition import TaskflowTask, task
from django_taskflow.exceptions import (
    ConfigurationError,
    HardTimeLimitExceeded,
    InvalidTaskOptions,
    MigrationsNotApplied,
    PayloadTooLarge,
    ResultNotFound,
    ResultRejected,
    ResultTimeout,
    ResultTypeMismatch,
    RetryRequested,
    TaskflowError,
    UnimportableTask,
    UnknownTask,
    UnserializablePayload,
    WorkerInterrupted,
    WorkerLost,
)
from django_taskflow.execution.context import TaskContext
from django_taskflow.execution.middleware import use
from django_taskflow.hooks import on_task_complete, on_task_failed, on_task_start, remove_hook
from django_taskflow.limits import Concurrency, RateLimit
from django_taskflow.policies import RetryPolicy
from django_taskflow.timeouts import Timeout

__all__ = [
    "Concurrency",
    "ConfigurationError",
    "HardTimeLimitExceeded",
    "InvalidTaskOptions",
    "MigrationsNotApplied",
    "PayloadTooLarge",
    "RateLimit",
    "ResultNotFound",
    "ResultRejected",
    "ResultTimeout",
    "ResultTypeMismatch",
    "RetryPolicy",
    "RetryRequested",
    "TaskContext",
    "TaskflowError",
    "TaskflowTask",
    "Timeout",
    "UnimportableTask",
    "UnknownTask",
    "UnserializablePayload",
    "WorkerInterrupted",
    "WorkerLost",
    "on_task_complete",
    "on_task_failed",
    "on_task_start",
    "remove_hook",
    "task",
    "use",
]
