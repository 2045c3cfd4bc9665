"""django_taskflow: reliable, observable background tasks on your database."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from django_taskflow import cron, services
from django_taskflow.dedup import Dedup
from django_taskflow.definition import TaskflowTask, task
from django_taskflow.encoding.encoders import CompressedEncoder, Encoder, register_encoder
from django_taskflow.exceptions import (
    AmbiguousTaskName,
    ConfigurationError,
    HardTimeLimitExceeded,
    InvalidFlowOperation,
    InvalidQuery,
    InvalidQueueOperation,
    InvalidSchedule,
    InvalidService,
    InvalidTaskOptions,
    MigrationsNotApplied,
    PayloadShapeError,
    PayloadTooLarge,
    PayloadVersionError,
    ResultNotFound,
    ResultRejected,
    ResultTimeout,
    ResultTypeMismatch,
    RetryRequested,
    ServiceConflict,
    ServiceNotRunning,
    StepArgumentsMismatch,
    TaskCancelled,
    TaskflowError,
    TaskNotExposed,
    UnimportableTask,
    UnknownService,
    UnknownTask,
    UnserializablePayload,
    WorkerInterrupted,
    WorkerLost,
)
from django_taskflow.execution.context import TaskContext
from django_taskflow.execution.middleware import use
from django_taskflow.flows import batch, chain, chord, group
from django_taskflow.hooks import (
    on_flow_complete,
    on_task_cancelled,
    on_task_complete,
    on_task_failed,
    on_task_start,
    remove_hook,
)
from django_taskflow.limits import Concurrency, RateLimit
from django_taskflow.policies import RetryPolicy
from django_taskflow.queues import Queue
from django_taskflow.schedules import schedule, unschedule
from django_taskflow.scheduling import TimeWindow
from django_taskflow.services import ServiceContext, service
from django_taskflow.timeouts import Timeout

if TYPE_CHECKING:
    from django_taskflow.flows.handle import BatchProgress, BatchResult, FlowResult
    from django_taskflow.operations import (
        acancel,
        acancel_all,
        acancel_flow,
        acancel_tasks,
        apause_queue,
        arequeue,
        aresume,
        aresume_queue,
        aretry_now,
        aset_queue_limit,
        cancel,
        cancel_all,
        cancel_flow,
        cancel_tasks,
        pause_queue,
        requeue,
        resume,
        resume_queue,
        retry_now,
        set_queue_limit,
    )
    from django_taskflow.queries import (
        afind_tasks,
        ahistory,
        astatus_counts,
        find_tasks,
        history,
        status_counts,
    )

# Steering and queries read the models, which cannot load with the package
# (the app registry is not ready yet): imported on first use instead.
_LAZY = {
    "BatchProgress": "flows.handle",
    "BatchResult": "flows.handle",
    "FlowResult": "flows.handle",
    "resume": "operations",
    "aresume": "operations",
    "cancel_flow": "operations",
    "acancel_flow": "operations",
    "acancel": "operations",
    "acancel_all": "operations",
    "acancel_tasks": "operations",
    "cancel": "operations",
    "cancel_all": "operations",
    "cancel_tasks": "operations",
    "apause_queue": "operations",
    "aresume_queue": "operations",
    "aset_queue_limit": "operations",
    "pause_queue": "operations",
    "resume_queue": "operations",
    "set_queue_limit": "operations",
    "requeue": "operations",
    "arequeue": "operations",
    "retry_now": "operations",
    "aretry_now": "operations",
    "afind_tasks": "queries",
    "ahistory": "queries",
    "astatus_counts": "queries",
    "find_tasks": "queries",
    "history": "queries",
    "status_counts": "queries",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'django_taskflow' has no attribute {name!r}")
    return getattr(importlib.import_module(f"django_taskflow.{module}"), name)


__all__ = [
    "AmbiguousTaskName",
    "BatchProgress",
    "BatchResult",
    "CompressedEncoder",
    "Concurrency",
    "ConfigurationError",
    "Dedup",
    "Encoder",
    "FlowResult",
    "HardTimeLimitExceeded",
    "InvalidFlowOperation",
    "InvalidQuery",
    "InvalidQueueOperation",
    "InvalidSchedule",
    "InvalidService",
    "InvalidTaskOptions",
    "MigrationsNotApplied",
    "PayloadShapeError",
    "PayloadTooLarge",
    "PayloadVersionError",
    "Queue",
    "RateLimit",
    "ResultNotFound",
    "ResultRejected",
    "ResultTimeout",
    "ResultTypeMismatch",
    "RetryPolicy",
    "RetryRequested",
    "ServiceConflict",
    "ServiceContext",
    "ServiceNotRunning",
    "StepArgumentsMismatch",
    "TaskCancelled",
    "TaskContext",
    "TaskNotExposed",
    "TaskflowError",
    "TaskflowTask",
    "TimeWindow",
    "Timeout",
    "UnimportableTask",
    "UnknownService",
    "UnknownTask",
    "UnserializablePayload",
    "WorkerInterrupted",
    "WorkerLost",
    "acancel",
    "acancel_all",
    "acancel_flow",
    "acancel_tasks",
    "afind_tasks",
    "ahistory",
    "apause_queue",
    "arequeue",
    "aresume",
    "aresume_queue",
    "aretry_now",
    "aset_queue_limit",
    "astatus_counts",
    "batch",
    "cancel",
    "cancel_all",
    "cancel_flow",
    "cancel_tasks",
    "chain",
    "chord",
    "cron",
    "find_tasks",
    "group",
    "history",
    "on_flow_complete",
    "on_task_cancelled",
    "on_task_complete",
    "on_task_failed",
    "on_task_start",
    "pause_queue",
    "register_encoder",
    "remove_hook",
    "requeue",
    "resume",
    "resume_queue",
    "retry_now",
    "schedule",
    "service",
    "services",
    "set_queue_limit",
    "status_counts",
    "task",
    "unschedule",
    "use",
]
