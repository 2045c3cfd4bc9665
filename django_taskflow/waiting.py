"""Why a queued task has not started: worked out for display, never in the claim path.

The admin's task page and (later) the API show these. Each reason comes
from one *explainer*, a function of the task row and the time; add new
ones to ``EXPLAINERS``. A task that is not queued waits for nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from django.tasks import task_backends
from django.tasks.exceptions import InvalidTaskBackend
from django.utils import timezone

from django_taskflow import models, queue_state
from django_taskflow.conf import Options
from django_taskflow.states import Status


@dataclass(frozen=True, slots=True, kw_only=True)
class WaitReason:
    """One thing a queued task waits for."""

    kind: str  # "run_after", "queue_paused", "queue_limit", "capabilities"
    message: str
    until: datetime | None = None  # when it passes by itself, if known


type Explainer = Callable[[models.Task, datetime], list[WaitReason]]


def why_waiting(task: models.Task, *, now: datetime | None = None) -> list[WaitReason]:
    """What keeps ``task`` from starting now; empty if nothing does (or it is not queued)."""
    if task.status != Status.QUEUED:
        return []
    moment = now or timezone.now()
    return [reason for explain in EXPLAINERS for reason in explain(task, moment)]


def _options(task: models.Task) -> Options | None:
    from django_taskflow.backend import TaskflowBackend

    try:
        backend = task_backends[task.backend]
    except InvalidTaskBackend:
        return None
    return backend.config if isinstance(backend, TaskflowBackend) else None


def _not_due(task: models.Task, now: datetime) -> list[WaitReason]:
    if task.run_after <= now:
        return []
    return [
        WaitReason(
            kind="run_after",
            message=f"not before {task.run_after.isoformat(sep=' ', timespec='seconds')}",
            until=task.run_after,
        )
    ]


def _queue(task: models.Task, now: datetime) -> list[WaitReason]:
    options = _options(task)
    if options is None:
        return []
    states = queue_state.read(options, task.backend)
    name = task.queue_name
    if name in states.paused:
        return [WaitReason(kind="queue_paused", message=f"queue {name!r} is paused")]
    limit = states.limits.get(name)
    if limit is None:
        return []
    running = (
        models.Task.objects.using(options.database)
        .running()
        .filter(backend=task.backend, queue_name=name)
        .count()
    )
    if running < limit:
        return []
    source = "set at run time" if name in states.overrides else 'OPTIONS["QUEUE_LIMITS"]'
    return [
        WaitReason(
            kind="queue_limit",
            message=f"queue {name!r} is at its limit: {running} running of {limit} ({source})",
        )
    ]


def _capabilities(task: models.Task, now: datetime) -> list[WaitReason]:
    if not task.requires:
        return []
    return [
        WaitReason(
            kind="capabilities",
            message="a worker offering "
            + ", ".join(sorted(task.requires))
            + " (taskworker --capabilities "
            + ",".join(sorted(task.requires))
            + ")",
        )
    ]


EXPLAINERS: list[Explainer] = [_not_due, _queue, _capabilities]
