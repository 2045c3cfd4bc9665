"""Running a schedule now, outside its timing: the admin's and the command's "run now"."""

from __future__ import annotations

import logging
from typing import Any

from django.utils import timezone

from django_taskflow import models, queries, scheduler
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
