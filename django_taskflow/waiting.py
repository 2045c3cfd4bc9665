"""Why a queued task has not started: worked out for display, never in the claim path.

The admin's task page and (later) the API show these. Each reason comes
from one *explainer*, a function of the task row and the time; add new
ones to ``EXPLAINERS``. A task that is not queued waits for nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.tasks import task_backends
from django.tasks.exceptions import InvalidTaskBackend
from django.utils import timezone

from django_taskflow import models, queue_state
from django_taskflow.conf import Options
from django_taskflow.encoding import stored
from django_taskflow.states import Status


@dataclass(frozen=True, slots=True, kw_only=True)
class WaitReason:
    """One thing a queued task waits for."""

    kind: str  # "run_after", "queue_paused", "queue_limit", "capabilities", "concurrency", "rate_limit"
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


def concurrency_reason(task: models.Task) -> WaitReason | None:
    """The task's concurrency cap, if its group is full now; None if it is not held back.

    ``until`` is None: it lifts when a running task of the group ends.
    """
    if task.status != Status.QUEUED or not task.concurrency_key or not task.concurrency_limit:
        return None
    running = (
        models.Task.objects.using(task._state.db)
        .filter(concurrency_key=task.concurrency_key, status=Status.RUNNING)
        .count()
    )
    if running < task.concurrency_limit:
        return None
    return WaitReason(
        kind="concurrency",
        message=f"its concurrency cap: {running} of at most {task.concurrency_limit} tasks of "
        f"group {task.concurrency_key} are running; it starts when one of them ends",
    )


def rate_limit_reason(task: models.Task, now: datetime | None = None) -> WaitReason | None:
    """The task's rate limit, if its window is full now, with the instant it opens."""
    if task.status != Status.QUEUED or not task.rate_key or not task.rate_limit:
        return None
    now = now or timezone.now()
    per = timedelta(seconds=task.rate_seconds or 0)
    starts = list(
        models.RateStart.objects.using(task._state.db)
        .filter(rate_key=task.rate_key, started_at__gt=now - per)
        .order_by("started_at")
        .values_list("started_at", flat=True)
    )
    if len(starts) < task.rate_limit:
        return None
    # One more may start once enough of the window's starts have left it.
    return WaitReason(
        kind="rate_limit",
        message=f"its rate limit: {len(starts)} of at most {task.rate_limit} starts of "
        f"group {task.rate_key} in the last {_duration(per)}",
        until=starts[len(starts) - task.rate_limit] + per,
    )


def limit_reasons(task: models.Task, now: datetime | None = None) -> list[WaitReason]:
    """Every concurrency cap or rate limit that holds the task back now (empty: none)."""
    found = [concurrency_reason(task), rate_limit_reason(task, now)]
    return [reason for reason in found if reason is not None]


def _duration(per: timedelta) -> str:
    seconds = per.total_seconds()
    for unit, size in (("h", 3600), ("min", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds / size:g} {unit}"
    return f"{seconds:g} s"


def _encryption_key(task: models.Task, now: datetime) -> list[WaitReason]:
    """A worker lacking the row's key handed it back (``worker/missing_keys.py``)."""
    key_id = stored.read(task.encoding).key_id
    if key_id is None:
        return []
    handed_back = (
        models.Event.objects.using(task._state.db)
        .filter(task_id=task.pk, kind=models.EventKind.KEY_MISSING)
        .order_by("-id")
        .values_list("data", flat=True)
        .first()
    )
    if not handed_back or handed_back.get("key") != key_id:
        return []
    return [
        WaitReason(
            kind="encryption_key",
            message=f"waiting for key {key_id}: worker {handed_back.get('worker')} lacks it "
            "and handed the task back; a worker with the key in ENCRYPTION_KEYS runs it",
        )
    ]


EXPLAINERS: list[Explainer] = [
    _not_due,
    _queue,
    _capabilities,
    limit_reasons,
    _encryption_key,
]
