"""The database tables: tasks, their attempts and events; dedup keys, queue states,
rate-limit starts, schedules, running workers, prune turns, alert incidents,
the metrics' counters; flows; long-running services, their messages and events.

Also the proxy views of the task table the admin shows: dead letters and stuck tasks.
"""

from __future__ import annotations

from django_taskflow.models.alert import AlertIncident, AlertTurn
from django_taskflow.models.attempt import Attempt
from django_taskflow.models.counter import TaskCounter
from django_taskflow.models.dedup import DedupKey
from django_taskflow.models.event import Event, EventKind
from django_taskflow.models.flow import Flow, FlowStatus
from django_taskflow.models.queue_state import QueueState
from django_taskflow.models.rate_start import RateStart
from django_taskflow.models.retention import PruneTurn
from django_taskflow.models.schedule import RunState, Schedule, ScheduleRun, Source
from django_taskflow.models.service import (
    MessageState,
    Service,
    ServiceEvent,
    ServiceMessage,
    ServiceState,
)
from django_taskflow.models.task import Task, TaskQuerySet, new_task_id
from django_taskflow.models.views import DeadLetter, StuckTask
from django_taskflow.models.worker_process import WorkerProcess, WorkerSlot

__all__ = [
    "AlertIncident",
    "AlertTurn",
    "Attempt",
    "DeadLetter",
    "DedupKey",
    "Event",
    "EventKind",
    "Flow",
    "FlowStatus",
    "MessageState",
    "PruneTurn",
    "QueueState",
    "RateStart",
    "RunState",
    "Schedule",
    "ScheduleRun",
    "Service",
    "ServiceEvent",
    "ServiceMessage",
    "ServiceState",
    "Source",
    "StuckTask",
    "Task",
    "TaskCounter",
    "TaskQuerySet",
    "WorkerProcess",
    "WorkerSlot",
    "new_task_id",
]
