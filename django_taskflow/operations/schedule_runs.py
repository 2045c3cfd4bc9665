"""Steering schedules: "run now" outside their timing, enable and disable.

Called by the admin's actions and the ``taskflow`` command. Each enabling
or disabling is one UPDATE guarded by the state it expects, so a schedule
changed meanwhile (by another operator, or by a sync) is counted once.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from django.utils import timezone

from django_taskflow import models, queries, scheduler, schedules
from django_taskflow.exceptions import InvalidSchedule
from django_taskflow.operations.inputs import operator_name
from django_taskflow.operations.twins import async_twin

logger = logging.getLogger(__name__)


def run_schedule_now(
    schedule: str | models.Schedule, *, by: Any = None, backend: str = "default"
) -> models.ScheduleRun | None:
    """Enqueue one run of ``schedule`` now, whatever its overlap policy; return the run.

    ``schedule`` is a name, looked up in ``backend``'s database, or a
    ``Schedule`` row, used where it was read. The run is planned now and
    the schedule's own timing does not move; a disabled schedule runs too.
    The run's ``state`` is ``fired`` with its task, or ``failed`` with a
    ``note`` saying why the task could not be enqueued. ``None`` when a run
    planned at the same instant already existed. Raises
    :class:`InvalidSchedule` for a name no schedule has.
    """
    who = operator_name(by)
    if isinstance(schedule, models.Schedule):
        row, database = schedule, schedule._state.db or queries.database_for(backend)
    else:
        database = queries.database_for(backend)
        found = models.Schedule.objects.using(database).filter(name=schedule).first()
        if found is None:
            raise InvalidSchedule(f"No schedule is named {schedule!r} in database {database!r}.")
        row = found
    run = scheduler.run_now(database, row, timezone.now())
    logger.info(
        "schedule %s run now by %s: %s",
        row.name,
        who or "an operator",
        "already run at this instant" if run is None else run.state,
        extra={"action": "schedule_run_now", "schedule": row.name},
    )
    return run


arun_schedule_now = async_twin(run_schedule_now)


def enable_schedules(
    rows: Iterable[models.Schedule], *, by: Any = None, now: datetime | None = None
) -> int:
    """Enable each disabled schedule of ``rows``; return how many were enabled.

    Its next run is planned afresh from ``now``: the runs it missed while
    disabled are not made up. Schedules already enabled are left alone.
    """
    now = now or timezone.now()
    changed = 0
    for row in rows:
        if row.enabled:
            continue
        schedules.reset_cursor(row, now)
        changed += (
            models.Schedule.objects.using(row._state.db)
            .filter(pk=row.pk, enabled=False)
            .update(
                enabled=True,
                anchor_at=row.anchor_at,
                next_planned_at=row.next_planned_at,
                next_run_at=row.next_run_at,
            )
        )
        row.enabled = True
    _log_switch(changed, "enabled", by)
    return changed


def disable_schedules(rows: Iterable[models.Schedule], *, by: Any = None) -> int:
    """Disable each enabled schedule of ``rows``; return how many were disabled."""
    changed = 0
    for row in rows:
        changed += (
            models.Schedule.objects.using(row._state.db)
            .filter(pk=row.pk, enabled=True)
            .update(enabled=False)
        )
        row.enabled = False
    _log_switch(changed, "disabled", by)
    return changed


def _log_switch(count: int, verb: str, by: Any) -> None:
    if count:
        logger.info(
            "%d schedule(s) %s by %s",
            count,
            verb,
            operator_name(by) or "an operator",
            extra={"action": f"schedules_{verb}"},
        )
