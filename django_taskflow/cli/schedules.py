"""``taskflow sync-schedules`` and ``run-schedule``: the Schedule table from a shell."""

from __future__ import annotations

from typing import Any

from django.core.management.base import CommandError
from django.db import DatabaseError

from django_taskflow import models, operations, schedules
from django_taskflow.cli import output
from django_taskflow.cli.actions import shell_user
from django_taskflow.cli.backend import backend_options
from django_taskflow.cli.output import Printer


def sync_schedules(out: Printer, *, backend: str, **options: Any) -> None:
    """Write the schedules the code declares to the Schedule table."""
    database = backend_options(backend).database
    try:
        report = schedules.sync(using=database)
    except DatabaseError as exc:
        raise CommandError(
            f"Cannot write schedules to database {database!r} ({exc}). "
            "Has `manage.py migrate` been run?"
        ) from exc
    if out.as_json:
        out.write(
            output.to_json(
                {
                    action: list(getattr(report, action))
                    for action in ("created", "updated", "disabled", "conflicts")
                }
            )
        )
        return
    for action in ("created", "updated", "disabled"):
        for name in getattr(report, action):
            out.write(f"{action}: {name}")
    for name in report.conflicts:
        out.warn(f"not synced: {name} (a schedule made in the admin or at run time has this name)")
    out.write(f"schedules: {report}")


def run_schedule(out: Printer, *, backend: str, names: list[str], **options: Any) -> None:
    """Enqueue one run of each schedule named, now; CommandError if one could not run."""
    database = backend_options(backend).database
    known = set(
        models.Schedule.objects.using(database)
        .filter(name__in=names)
        .values_list("name", flat=True)
    )
    unknown = [name for name in names if name not in known]
    if unknown:  # before any runs: all named schedules run, or none
        raise CommandError(f"No schedule is named {', '.join(map(repr, unknown))}.")
    runs = {
        name: operations.run_schedule_now(name, by=shell_user(), backend=backend) for name in names
    }
    results: list[dict[str, Any]] = [
        {
            "schedule": name,
            "state": run.state if run is not None else models.RunState.FAILED,
            "task_id": str(run.task_id) if run is not None and run.task_id else None,
            "note": run.note if run is not None else "a run was planned at this same instant",
        }
        for name, run in runs.items()
    ]

    def render() -> str:
        return "\n".join(
            f"{r['schedule']}: task {r['task_id']} enqueued"
            if r["state"] == models.RunState.FIRED
            else f"{r['schedule']}: could not enqueue ({r['note']})"
            for r in results
        )

    if out.as_json or out.verbosity >= 1:
        out.data(results, render)
    failed = [r["schedule"] for r in results if r["state"] != models.RunState.FIRED]
    if failed:
        raise CommandError(f"Could not enqueue a run of: {', '.join(failed)}.")
