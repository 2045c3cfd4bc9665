"""Declare schedules (``schedule()``, ``@task(schedule=...)``) and sync them to the table.

Declaring touches no database: while the apps load (an app's ``tasks.py``
imported by autodiscovery, say), ``schedule()`` and ``@task(schedule=...)``
only remember the schedule. :func:`sync` writes what the code declares to
the Schedule table when a worker's scheduler starts and in
``manage.py taskflow sync-schedules``: it creates new schedules, updates
changed ones and disables those the code no longer declares, keeping
their history. It never touches schedules made in the admin or at run
time. Called once the apps are ready (a view, a shell), ``schedule()``
and ``unschedule()`` write the row at once, and the next tick uses it.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from django.apps import apps
from django.conf import settings
from django.db import IntegrityError, transaction
from django.tasks import Task
from django.utils import timezone as django_timezone

from django_taskflow.cron import CronExpression
from django_taskflow.exceptions import InvalidSchedule
from django_taskflow.schedule_call import check_call
from django_taskflow.scheduling import CatchUp, Overlap, TimeWindow, Timing, timing_from, zone

logger = logging.getLogger(__name__)

NAME_MAX_LENGTH = 200


@dataclass(frozen=True, slots=True, kw_only=True)
class Declaration:
    """A schedule as the code declares it; ``fields()`` gives its row's values."""

    name: str
    task_path: str
    # The task's TASKS alias: a schedule is synced into that backend's database.
    backend: str = "default"
    args: tuple[Any, ...] = ()
    kwargs: Mapping[str, Any] = field(default_factory=dict)
    timing: Timing
    # None: settings.TIME_ZONE, read when the row is written, not at import.
    timezone: str | None = None
    catch_up: str = CatchUp.SKIP
    overlap: str = Overlap.SKIP

    def fields(self) -> dict[str, Any]:
        timing = self.timing
        window = timing.window
        return {
            "task_path": self.task_path,
            "args": json.loads(json.dumps(list(self.args))),
            "kwargs": json.loads(json.dumps(dict(self.kwargs))),
            "cron": timing.cron or "",
            "interval_seconds": int(timing.every.total_seconds()) if timing.every else None,
            "timezone": self.timezone or default_timezone(),
            "window_start": window.opens if window else None,
            "window_end": window.closes if window else None,
            "window_days": window.day_text if window else "",
            "catch_up": str(self.catch_up),
            "overlap": str(self.overlap),
        }


# Fields that decide when a schedule runs: changing one moves its cursor.
TIMING_FIELDS = (
    "cron",
    "interval_seconds",
    "timezone",
    "window_start",
    "window_end",
    "window_days",
)

_declared: dict[str, Declaration] = {}


def default_timezone() -> str:
    """``settings.TIME_ZONE``, the time zone of a schedule that names none (UTC if unset)."""
    return settings.TIME_ZONE or "UTC"


def declared() -> list[Declaration]:
    """The schedules the imported code declares, by name."""
    return [_declared[name] for name in sorted(_declared)]


def default_name(task_path: str, args: Sequence[Any], kwargs: Mapping[str, Any]) -> str:
    """An unnamed schedule's name: its task path and a short hash of its arguments."""
    call = json.dumps([list(args), dict(kwargs)], sort_keys=True)
    digest = hashlib.sha256(call.encode()).hexdigest()[:8]
    return f"{task_path}:{digest}"[-NAME_MAX_LENGTH:]


def declare(declaration: Declaration) -> None:
    """Remember a code schedule; the same name twice must mean the same schedule."""
    known = _declared.get(declaration.name)
    if known is not None and known != declaration:
        raise InvalidSchedule(
            f"two different schedules are named {declaration.name!r}; give each its own name=."
        )
    _declared[declaration.name] = declaration


def forget(name: str) -> bool:
    """Remove a code schedule declared under ``name`` (tests, ``unschedule`` at import)."""
    return _declared.pop(name, None) is not None


def build_declaration(
    task: Task[Any, Any] | str,
    *,
    cron: CronExpression | str | None = None,
    every: timedelta | None = None,
    cron_or_every: CronExpression | str | timedelta | None = None,
    name: str | None = None,
    args: Sequence[Any] = (),
    kwargs: Mapping[str, Any] | None = None,
    timezone: str | None = None,
    window: TimeWindow | None = None,
    catch_up: str = CatchUp.SKIP,
    overlap: str = Overlap.SKIP,
) -> Declaration:
    """Check a schedule's options and return it; :class:`InvalidSchedule` names the bad one."""
    definition = task if isinstance(task, Task) else None
    if definition is None and not (isinstance(task, str) and "." in task):
        raise InvalidSchedule(f"task must be a task definition or its dotted path, got {task!r}.")
    task_path = definition.module_path if definition is not None else str(task)
    kwargs = {} if kwargs is None else kwargs
    check_call(definition, task_path, args, kwargs)
    if cron is not None and every is not None:
        raise InvalidSchedule(f"schedule for {task_path}: give cron= or every=, not both.")
    if cron_or_every is None and cron is None and every is None:
        raise InvalidSchedule(f"schedule for {task_path}: give cron= or every=.")
    if timezone is not None:
        zone(timezone)
    when = cron_or_every if cron_or_every is not None else every if every is not None else cron
    timing = timing_from(when, timezone=timezone or "UTC", window=window)
    if catch_up not in CatchUp.values:
        raise InvalidSchedule(f'catch_up must be "skip" or "run_once", got {catch_up!r}.')
    if overlap not in Overlap.values:
        raise InvalidSchedule(f'overlap must be "skip", "queue" or "allow", got {overlap!r}.')
    if name is not None and (not isinstance(name, str) or not 0 < len(name) <= NAME_MAX_LENGTH):
        raise InvalidSchedule(
            f"name must be a string of 1 to {NAME_MAX_LENGTH} characters, got {name!r}."
        )
    return Declaration(
        name=name or default_name(task_path, args, kwargs),
        task_path=task_path,
        backend=definition.backend if definition is not None else "default",
        args=tuple(args),
        kwargs=dict(kwargs),
        timing=timing,
        timezone=timezone,
        catch_up=catch_up,
        overlap=overlap,
    )


def schedule(
    task: Task[Any, Any] | str,
    *,
    cron: CronExpression | str | None = None,
    every: timedelta | None = None,
    name: str | None = None,
    args: Sequence[Any] = (),
    kwargs: Mapping[str, Any] | None = None,
    timezone: str | None = None,
    window: TimeWindow | None = None,
    catch_up: str = CatchUp.SKIP,
    overlap: str = Overlap.SKIP,
    using: str | None = None,
) -> str:
    """Run ``task`` periodically; return the schedule's name.

    ``cron``: a builder such as ``cron.daily_at(9, 30)`` or an expression;
    ``every``: an interval instead. ``timezone`` (default
    ``settings.TIME_ZONE``), ``window``, ``catch_up`` and ``overlap`` are
    described in docs/howto/schedules.md. Raises :class:`InvalidSchedule`
    for a bad option. At import time this only declares the schedule (it is
    synced when a worker starts); afterwards it writes the row at once, in
    database ``using`` (default: the database of the task's backend).
    """
    declaration = build_declaration(
        task,
        cron=cron,
        every=every,
        name=name,
        args=args,
        kwargs=kwargs,
        timezone=timezone,
        window=window,
        catch_up=catch_up,
        overlap=overlap,
    )
    if not apps.ready:
        declare(declaration)
    else:
        save_runtime(declaration, using=using or _database_of_backend(declaration.backend))
    return declaration.name


def _database_of_backend(alias: str) -> str:
    """The database where the backend ``alias`` keeps its tasks (and so its schedules)."""
    from django.tasks import task_backends

    config = getattr(task_backends[alias], "config", None)
    return str(config.database) if config is not None else "default"


def unschedule(name: str, *, using: str = "default") -> bool:
    """Stop the schedule ``name``; return whether there was one.

    At import time it withdraws a declaration; afterwards it deletes the
    row with its run history (a schedule still declared in the code comes
    back at the next sync).
    """
    if not apps.ready:
        return forget(name)
    from django_taskflow import models

    deleted, _ = models.Schedule.objects.using(using).filter(name=name).delete()
    return deleted > 0


def reset_cursor(row: Any, now: datetime) -> None:
    """Point ``row`` at its first planned time after ``now`` (new, re-timed or re-enabled)."""
    timing: Timing = row.timing
    if timing.every is not None:
        row.anchor_at = now + timing.every
        planned = row.anchor_at
    else:
        row.anchor_at = None
        planned = timing.planned_after(now)
    row.next_planned_at = planned.astimezone(UTC)
    row.next_run_at = timing.fire_time(planned).astimezone(UTC)


def save_runtime(declaration: Declaration, *, using: str, now: datetime | None = None) -> None:
    """Create or update the row of a schedule made at run time (not from code)."""
    from django_taskflow import models

    now = now or django_timezone.now()
    values = declaration.fields()
    with transaction.atomic(using=using):
        row = (
            models.Schedule.objects.using(using)
            .select_for_update()
            .filter(name=declaration.name)
            .first()
        )
        if row is not None and row.source == models.Source.CODE:
            raise InvalidSchedule(
                f"schedule {declaration.name!r} is declared in code; change it there, "
                "or give this one another name."
            )
        if row is None:
            row = models.Schedule(name=declaration.name, source=models.Source.RUNTIME)
        retimed = row.pk is None or any(getattr(row, key) != values[key] for key in TIMING_FIELDS)
        for key, value in values.items():
            setattr(row, key, value)
        if retimed or not row.enabled:
            row.enabled = True
            reset_cursor(row, now)
        row.save(using=using)


@dataclass(slots=True)
class SyncReport:
    """What :func:`sync` did, by schedule name."""

    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    disabled: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    conflicts: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        parts = [
            f"{len(self.created)} created",
            f"{len(self.updated)} updated",
            f"{len(self.disabled)} disabled",
            f"{len(self.unchanged)} unchanged",
        ]
        if self.conflicts:
            parts.append(
                f"{len(self.conflicts)} not synced: a schedule made in the admin or at run "
                f"time has the name ({', '.join(self.conflicts)})"
            )
        return ", ".join(parts)


# Workers started together sync at once; one that loses the race to create
# a row tries again and finds it.
SYNC_TRIES = 3


def sync(
    using: str = "default",
    declarations: Iterable[Declaration] | None = None,
    now: datetime | None = None,
) -> SyncReport:
    """Make the code's schedules the table's: create, update, disable; return what changed.

    Idempotent: a schedule that did not change keeps its cursor, so that
    restarting workers neither adds nor drops a run.
    """
    every = declared() if declarations is None else declarations
    wanted = {d.name: d for d in every if _database_of_backend(d.backend) == using}
    for attempt in range(1, SYNC_TRIES + 1):
        try:
            return _sync(using, wanted, now or django_timezone.now())
        except IntegrityError:
            if attempt == SYNC_TRIES:
                raise
            logger.debug("another worker created a schedule at the same time; syncing again")
    raise AssertionError("unreachable")  # pragma: no cover


def _sync(using: str, wanted: dict[str, Declaration], now: datetime) -> SyncReport:
    from django_taskflow import models

    report = SyncReport()
    with transaction.atomic(using=using):
        rows = {
            row.name: row
            for row in models.Schedule.objects.using(using)
            .select_for_update()
            .filter(name__in=list(wanted))
        }
        for name, declaration in sorted(wanted.items()):
            values = declaration.fields()
            row = rows.get(name)
            if row is None:
                row = models.Schedule(name=name, source=models.Source.CODE, **values)
                reset_cursor(row, now)
                row.save(using=using)
                report.created.append(name)
                continue
            if row.source != models.Source.CODE:
                report.conflicts.append(name)
                continue
            changed = [key for key, value in values.items() if getattr(row, key) != value]
            if not changed and not row.missing_from_code:
                report.unchanged.append(name)
                continue
            for key in changed:
                setattr(row, key, values[key])
            if row.missing_from_code:
                row.missing_from_code = False
                row.enabled = True
            if row.enabled and (set(changed) & set(TIMING_FIELDS) or row.next_planned_at is None):
                reset_cursor(row, now)
            row.save(using=using)
            report.updated.append(name)
        gone = (
            models.Schedule.objects.using(using)
            .filter(source=models.Source.CODE, missing_from_code=False)
            .exclude(name__in=list(wanted))
        )
        report.disabled = sorted(gone.values_list("name", flat=True))
        gone.update(enabled=False, missing_from_code=True, updated_at=now)
    for action in ("created", "updated", "disabled"):
        for name in getattr(report, action):  # after commit: a retried sync logs once
            logger.info(
                "schedule %s %s from code",
                name,
                action,
                extra={"action": f"schedule_{action}", "schedule": name},
            )
    return report
