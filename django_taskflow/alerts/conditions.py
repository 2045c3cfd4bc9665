"""What each alert rule sees now: the subjects (queues, tasks, schedules) whose condition holds.

Read-only, and each rule is one or two queries that stay fast with a
10 M-row history:

- ``queue_depth`` counts at most ``ABOVE + 1`` ready rows of the queue
  (``COUNT`` over a ``LIMIT``), so a deep queue costs no more than a
  shallow one, through the status index's queued rows;
- ``oldest_ready`` reads the oldest ``run_after`` of the ready rows with a
  loose index scan of the claim and gate indexes, as ``taskflow stats``
  and ``health`` do (``stats.oldest_ready_at``);
- ``failure_rate`` counts the tasks that finished inside the window through
  ``taskflow_task_finished_idx`` (status, finished_at), bounded on both sides;
- ``no_worker`` reads the live ``WorkerProcess`` rows (``alive_until`` index);
- ``schedule_missed`` reads the enabled schedules, their due index and each
  one's latest run through the (schedule, planned_at) unique index.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from django.db.models import Count, OuterRef, Q, Subquery

from django_taskflow import models, stats, worker_status
from django_taskflow.alerts.rules import Rule, When
from django_taskflow.conf import Options
from django_taskflow.durations import format_duration
from django_taskflow.scheduling import MISSED_AFTER
from django_taskflow.states import Status


@dataclass(frozen=True, slots=True, kw_only=True)
class Breach:
    """One subject whose condition holds now, with what was seen."""

    subject: str
    value: float
    detail: str


type Observe = Callable[[Rule, Options, str, datetime], list[Breach]]


def _queue_depth(rule: Rule, options: Options, backend: str, now: datetime) -> list[Breach]:
    assert rule.queue is not None  # noqa: S101 - required by rules.parse_rule
    limit = int(rule.above)
    ready = stats.ready_tasks(options, backend, now).filter(queue_name=rule.queue)
    depth = ready.order_by()[: limit + 1].count()
    if depth <= limit:
        return []
    return [
        Breach(
            subject=rule.queue,
            value=depth,
            detail=f"queue {rule.queue!r} has more than {limit} ready tasks",
        )
    ]


def _oldest_ready(rule: Rule, options: Options, backend: str, now: datetime) -> list[Breach]:
    assert rule.older_than is not None  # noqa: S101 - required by rules.parse_rule
    oldest = stats.oldest_ready_at(options, backend, now, queue=rule.queue)
    if oldest is None or now - oldest <= rule.older_than:
        return []
    age = (now - oldest).total_seconds()
    where = f" in queue {rule.queue!r}" if rule.queue is not None else ""
    return [
        Breach(
            subject=rule.queue or "",
            value=age,
            detail=f"the oldest ready task{where} has waited {age:.0f} s "
            f"(limit {format_duration(rule.older_than)})",
        )
    ]


def _failure_rate(rule: Rule, options: Options, backend: str, now: datetime) -> list[Breach]:
    assert rule.window is not None  # noqa: S101 - required by rules.parse_rule
    finished = models.Task.objects.using(options.database).filter(
        backend=backend,
        status__in=[Status.SUCCEEDED, Status.FAILED],
        finished_at__gt=now - rule.window,
        finished_at__lte=now,
    )
    if rule.task_path is not None:
        finished = finished.filter(task_path=rule.task_path)
    counts = (
        finished.order_by()
        .values("task_path")
        .annotate(total=Count("pk"), failed=Count("pk", filter=Q(status=Status.FAILED)))
    )
    breaches = []
    for row in counts:
        rate = 100 * row["failed"] / row["total"]
        if row["total"] >= rule.min_tasks and rate > rule.above:
            breaches.append(
                Breach(
                    subject=row["task_path"],
                    value=rate,
                    detail=f"{row['failed']} of {row['total']} {row['task_path']} tasks failed "
                    f"in the last {format_duration(rule.window)} ({rate:.0f} %, limit "
                    f"{rule.above:g} %)",
                )
            )
    return breaches


def _no_worker(rule: Rule, options: Options, backend: str, now: datetime) -> list[Breach]:
    alive = worker_status.workers_alive(using=options.database).filter(backend=backend)
    queues = alive.values_list("queues", flat=True)
    if rule.queue is None:
        if alive.exists():
            return []
        return [Breach(subject="", value=0, detail="no worker is alive")]
    # A worker started without --queues (an empty list) serves every queue.
    if any(not served or rule.queue in served for served in queues):
        return []
    return [
        Breach(subject=rule.queue, value=0, detail=f"no live worker serves queue {rule.queue!r}")
    ]


def _schedule_missed(rule: Rule, options: Options, backend: str, now: datetime) -> list[Breach]:
    latest = models.ScheduleRun.objects.filter(schedule=OuterRef("pk")).order_by("-planned_at")
    schedules = (
        models.Schedule.objects.using(options.database)
        .filter(enabled=True)
        .annotate(last_state=Subquery(latest.values("state")[:1]))
        .filter(
            Q(next_run_at__lt=now - MISSED_AFTER)
            | Q(last_state__in=[models.RunState.SKIPPED, models.RunState.FAILED])
        )
    )
    if rule.schedule is not None:
        schedules = schedules.filter(name=rule.schedule)
    breaches = []
    for name, next_run_at, last_state in schedules.values_list("name", "next_run_at", "last_state"):
        if next_run_at is not None and now - next_run_at > MISSED_AFTER:
            late = (now - next_run_at).total_seconds()
            detail = f"schedule {name!r} is {late:.0f} s late: no scheduler fired its run"
        else:
            late = 0
            detail = f"the last planned run of schedule {name!r} was {last_state}"
        breaches.append(Breach(subject=name, value=late, detail=detail))
    return breaches


OBSERVERS: dict[When, Observe] = {
    When.QUEUE_DEPTH: _queue_depth,
    When.OLDEST_READY: _oldest_ready,
    When.FAILURE_RATE: _failure_rate,
    When.NO_WORKER: _no_worker,
    When.SCHEDULE_MISSED: _schedule_missed,
}


def observe(rule: Rule, options: Options, backend: str, now: datetime) -> list[Breach]:
    """The subjects for which ``rule``'s condition holds at ``now``."""
    return OBSERVERS[rule.when](rule, options, backend, now)
