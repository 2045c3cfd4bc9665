"""The scheduler's tick: fire the planned runs that came due, each exactly once.

Every ``taskworker`` runs ticks (``worker/scheduler_duty.py``); there is no
leader. Two guards make a planned run fire once however many schedulers
tick at the same moment:

1. the cursor (``next_planned_at``) moves by one UPDATE guarded by the
   value the tick read, so only one scheduler wins each step; on
   PostgreSQL the loser waits for the winner's commit and then finds
   nothing to update;
2. the run's row is unique on (schedule, planned time), so even a cursor
   moved back (by an edit, or a clock that jumped) cannot fire it twice.

The run's row, its task and the cursor's move commit together: a
scheduler killed mid-tick leaves the run unfired and the cursor in place,
and the next tick (any worker's) fires it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db import DatabaseError, IntegrityError, transaction
from django.db.models import F, Min
from django.tasks import task_backends

from django_taskflow import models, registry
from django_taskflow.exceptions import InvalidSchedule, TaskflowError
from django_taskflow.scheduling import Overlap, plan
from django_taskflow.states import Status

logger = logging.getLogger(__name__)

# Due schedules one tick handles; the rest wait for the next tick.
TICK_BATCH = 100
ACTIVE = (Status.QUEUED, Status.RUNNING)


@dataclass(slots=True)
class TickReport:
    """What one tick did: runs fired, skipped, failed and missed; the next due time."""

    fired: int = 0
    skipped: int = 0
    failed: int = 0
    missed: int = 0
    waiting: int = 0
    next_due: datetime | None = None
    task_ids: list[str] = field(default_factory=list)


def tick(database: str, now: datetime) -> TickReport:
    """Fire every due run of every enabled schedule in ``database`` as of ``now``."""
    report = TickReport()
    due = list(
        models.Schedule.objects.using(database)
        .filter(enabled=True, next_run_at__lte=now)
        .order_by("next_run_at")[:TICK_BATCH]
    )
    for row in due:
        try:
            _fire_schedule(database, row, now, report)
        except DatabaseError:
            raise  # the connection: the duty reconnects and the next tick retries
        except Exception:
            # One schedule must not stop the others, nor every worker's scheduler.
            logger.exception(
                "schedule %s failed to fire; it is paused until it is edited",
                row.name,
                extra={"action": "schedule_invalid", "schedule": row.name},
            )
            _pause(database, row)
            report.failed += 1
    waiting = (
        models.ScheduleRun.objects.using(database)
        .filter(state=models.RunState.WAITING)
        .order_by()
        .values_list("schedule_id", flat=True)
        .distinct()
    )
    for schedule_id in list(waiting):
        _release_waiting(database, schedule_id, now, report)
    report.next_due = (
        models.Schedule.objects.using(database)
        .filter(enabled=True)
        .aggregate(soonest=Min("next_run_at"))["soonest"]
    )
    return report


def _fire_schedule(database: str, row: models.Schedule, now: datetime, report: TickReport) -> None:
    if row.next_planned_at is None:  # due without a planned time: a hand edit
        _pause(database, row)
        return
    try:
        timing = row.timing
    except InvalidSchedule as exc:
        # Only a write that bypassed the admin's checks gets here.
        logger.error(
            "schedule %s cannot run: %s; fix it in the admin",
            row.name,
            exc,
            extra={"action": "schedule_invalid", "schedule": row.name},
        )
        _pause(database, row)
        return
    decision = plan(
        timing,
        cursor=row.next_planned_at,
        anchor=row.anchor_at,
        now=now,
        catch_up=row.catch_up,
        collapse=row.overlap != Overlap.QUEUE,
    )
    with transaction.atomic(using=database):
        won = (
            models.Schedule.objects.using(database)
            .filter(
                pk=row.pk,
                enabled=True,
                next_planned_at=row.next_planned_at,
                updated_at=row.updated_at,
            )
            .update(
                next_planned_at=decision.next_planned,
                next_run_at=decision.next_fire,
                last_run_at=decision.runs[-1].planned_at if decision.runs else F("last_run_at"),
            )
        )
        if not won:
            logger.debug(
                "schedule %s was fired or edited by another; leaving it",
                row.name,
                extra={"action": "schedule_race_lost", "schedule": row.name},
            )
            return
        for run in decision.runs:
            if row.overlap == Overlap.QUEUE:
                state = models.RunState.WAITING
            elif row.overlap == Overlap.SKIP and _is_active(database, row.pk):
                state = models.RunState.SKIPPED
            else:
                state = models.RunState.FIRED
            _record_run(database, row, run.planned_at, now, state, report)
    if decision.missed:
        report.missed += decision.missed
        logger.info(
            "schedule %s: %d planned run(s) were missed while no scheduler ran (catch_up=%s)",
            row.name,
            decision.missed,
            row.catch_up,
            extra={"action": "schedule_runs_missed", "schedule": row.name},
        )


def _pause(database: str, row: models.Schedule) -> None:
    """Take a schedule that cannot run out of the ticks until an edit resets its cursor."""
    models.Schedule.objects.using(database).filter(pk=row.pk, updated_at=row.updated_at).update(
        next_run_at=None
    )


def _is_active(database: str, schedule_id: int) -> bool:
    """Whether a run of this schedule is waiting, or its task is queued or running."""
    runs = models.ScheduleRun.objects.using(database).filter(schedule_id=schedule_id)
    return runs.filter(task__status__in=ACTIVE).exists()


def _record_run(
    database: str,
    row: models.Schedule,
    planned_at: datetime,
    now: datetime,
    state: str,
    report: TickReport,
) -> models.ScheduleRun | None:
    """Insert the run's row and, if it fires now, enqueue its task; None if it existed."""
    try:
        with transaction.atomic(using=database):
            run = models.ScheduleRun.objects.using(database).create(
                schedule=row, planned_at=planned_at, fired_at=now, state=state
            )
    except IntegrityError:
        logger.debug(
            "schedule %s: the run planned at %s was fired before",
            row.name,
            planned_at,
            extra={"action": "schedule_run_exists", "schedule": row.name},
        )
        return None
    if state == models.RunState.SKIPPED:
        run.note = "the previous run was still queued or running (overlap=skip)"
        run.save(using=database, update_fields=["note"])
        report.skipped += 1
        logger.info(
            "schedule %s: run planned at %s skipped, the previous one is still active",
            row.name,
            planned_at,
            extra={"action": "schedule_run_skipped", "schedule": row.name},
        )
    elif state == models.RunState.WAITING:
        report.waiting += 1
    else:
        _enqueue(database, row, run, now, report)
    return run


def _enqueue(
    database: str, row: models.Schedule, run: models.ScheduleRun, now: datetime, report: TickReport
) -> None:
    """Enqueue the run's task with the task's own options; a failure fails the run only."""
    from django_taskflow import enqueue

    try:
        with transaction.atomic(using=database):
            definition = registry.resolve(row.task_path)
            backend: Any = task_backends[definition.backend]
            config = getattr(backend, "config", None)
            if config is None or config.database != database:
                raise InvalidSchedule(
                    f"task {row.task_path} is stored by backend {definition.backend!r}, not in "
                    f"database {database!r} where its schedule is."
                )
            backend.validate_task(definition)
            result = enqueue.enqueue(backend, definition, row.args, row.kwargs, now=now)
    except (TaskflowError, TypeError, ValueError, ImportError) as exc:
        run.state = models.RunState.FAILED
        run.note = f"{type(exc).__name__}: {exc}"[:2000]
        run.save(using=database, update_fields=["state", "note"])
        report.failed += 1
        logger.error(
            "schedule %s: could not enqueue %s: %s",
            row.name,
            row.task_path,
            exc,
            extra={"action": "schedule_run_failed", "schedule": row.name},
        )
        return
    run.state = models.RunState.FIRED
    run.task_id = result.id
    run.save(using=database, update_fields=["state", "task"])
    report.fired += 1
    report.task_ids.append(str(result.id))
    logger.info(
        "schedule %s fired task %s (planned at %s)",
        row.name,
        result.id,
        run.planned_at.isoformat(),
        extra={"action": "schedule_fired", "schedule": row.name, "task_id": str(result.id)},
    )


def _release_waiting(database: str, schedule_id: int, now: datetime, report: TickReport) -> None:
    """Enqueue the oldest waiting run of an ``overlap="queue"`` schedule once nothing runs."""
    with transaction.atomic(using=database):
        # The schedule's row lock serialises releases, so that two schedulers
        # cannot both find it idle and release two runs.
        row = (
            models.Schedule.objects.using(database)
            .select_for_update()
            .filter(pk=schedule_id)
            .first()
        )
        if row is None or _is_active(database, schedule_id):
            return
        run = (
            models.ScheduleRun.objects.using(database)
            .filter(schedule_id=schedule_id, state=models.RunState.WAITING)
            .order_by("planned_at")
            .first()
        )
        if run is None:
            return
        won = (
            models.ScheduleRun.objects.using(database)
            .filter(pk=run.pk, state=models.RunState.WAITING)
            .update(state=models.RunState.FIRED, fired_at=now)
        )
        if won:
            run.fired_at = now
            _enqueue(database, row, run, now, report)


def run_now(database: str, row: models.Schedule, now: datetime) -> models.ScheduleRun | None:
    """Fire one run of ``row`` now, whatever its overlap policy (the admin's "run now").

    The run is planned at ``now``; the schedule's own cursor does not move.
    """
    report = TickReport()
    with transaction.atomic(using=database):
        return _record_run(database, row, now, now, models.RunState.FIRED, report)
