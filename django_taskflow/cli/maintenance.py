"""``taskflow stats``, ``workers``, ``health`` and ``prune``: watching and tidying."""

from __future__ import annotations

import sys
from typing import Any

from django.core.management.base import CommandError
from django.tasks import task_backends

from django_taskflow import models, operations
from django_taskflow.cli import output
from django_taskflow.cli.backend import backend_options
from django_taskflow.cli.output import Printer

# `taskflow health` exit code when a check fails (1 and 2 are Django's:
# a command error and a usage error).
UNHEALTHY_EXIT_CODE = 3


def stats(out: Printer, *, backend: str, **options: Any) -> None:
    """Counts by status and queue, the oldest ready task, throughput, the last prune."""
    from django_taskflow import queue_state
    from django_taskflow import stats as stats_module
    from django_taskflow.states import Status

    config = backend_options(backend)
    figures = stats_module.collect(config, backend)
    queues = queue_state.overview(config, backend, task_backends[backend].queues)
    turn = models.PruneTurn.objects.using(config.database).filter(backend=backend).first()
    pruned = turn is not None and turn.last_pruned_at is not None
    data = {
        "by_status": figures.by_status,
        "by_queue": figures.counts,
        "queues": {
            q.name: {"paused": q.paused, "limit": q.limit, "weight": q.weight} for q in queues
        },
        "ready": figures.ready,
        "oldest_ready_age_seconds": figures.oldest_ready_age,
        "finished": {f"{m}m": figures.finished[m] for m in stats_module.WINDOWS},
        "throughput_per_second": {
            f"{m}m": round(figures.throughput(m), 3) for m in stats_module.WINDOWS
        },
        "last_prune": {"at": turn.last_pruned_at, "deleted": turn.last_deleted, "by": turn.holder}
        if turn is not None and pruned
        else None,
    }

    def render() -> str:
        statuses = list(Status.values)
        counts = output.table(
            ("queue", *statuses, "paused", "limit"),
            [
                (
                    q.name,
                    *(figures.counts.get(q.name, {}).get(s, 0) for s in statuses),
                    "yes" if q.paused else "",
                    q.limit,
                )
                for q in queues
            ]
            + [("(all)", *(figures.by_status[s] for s in statuses), "", "")],
        )
        age = figures.oldest_ready_age
        lines = [
            counts,
            f"\nready now: {figures.ready}; oldest ready task waited: "
            + ("-" if age is None else f"{age:.1f} s"),
            "throughput (tasks/s): "
            + ", ".join(
                f"{m} min {figures.throughput(m):.2f} ({figures.finished[m]} finished)"
                for m in stats_module.WINDOWS
            ),
        ]
        if turn is not None and pruned:
            lines.append(
                f"last prune: {output.cell_text(turn.last_pruned_at)} by {turn.holder}, "
                f"{turn.last_deleted} tasks"
            )
        return "\n".join(lines)

    out.data(data, render)


WORKER_FIELDS = ("worker_id", "host", "pid", "name", "pool", "queues", "capabilities")
WORKER_COLUMNS: output.Columns = {
    "worker": lambda w: w["worker_id"],
    "host": lambda w: w["host"],
    "pid": lambda w: w["pid"],
    "name": lambda w: w["name"],
    "queues": lambda w: ",".join(w["queues"]) or "(all)",
    "capabilities": lambda w: ",".join(w["capabilities"]),
    "slots": lambda w: w["slots"],
    "running": lambda w: len(w["running_task_ids"]),
    "started": lambda w: w["started_at"],
    "last heartbeat": lambda w: w["last_heartbeat"],
    "state": lambda w: w["state"],
}


def workers(out: Printer, *, backend: str, **options: Any) -> None:
    """Each worker's row: where it runs, what it takes, what it runs, alive or gone."""
    from django_taskflow import worker_status

    database = backend_options(backend).database
    rows = [
        {
            **output.attributes(worker, WORKER_FIELDS),
            "slots": worker.concurrency,
            "slot_ids": [slot.worker_id for slot in worker.slots.all()],
            "running_task_ids": worker.running_task_ids,
            "started_at": worker.started_at,
            "last_heartbeat": worker.last_heartbeat,
            "state": "alive" if getattr(worker, "alive", False) else "gone",
        }
        for worker in worker_status.every_worker(using=database, backend=backend)
    ]
    out.rows(rows, WORKER_COLUMNS, empty="no workers")


def health(out: Printer, *, backend: str, max_ready_age: float | None, **options: Any) -> None:
    """Each check's verdict; exits with UNHEALTHY_EXIT_CODE when one fails."""
    from django_taskflow import health as health_module

    report = health_module.check(backend_options(backend), backend, max_ready_age=max_ready_age)
    if out.as_json:
        out.write(output.to_json(report.as_json()))
    elif out.verbosity >= 1:
        for item in report.checks:
            out.write(f"{'ok  ' if item.ok else 'FAIL'}  {item.name}: {item.detail}")
        out.write("healthy" if report.healthy else "unhealthy")
    if not report.healthy:
        out.stdout.flush()
        sys.exit(UNHEALTHY_EXIT_CODE)


def prune(out: Printer, *, backend: str, older_than: Any, status: Any, **options: Any) -> None:
    """Delete finished tasks past an age, or past OPTIONS["RETENTION"], in chunks."""
    config = backend_options(backend)
    chunking = {"chunk_size": options["chunk_size"], "dry_run": options["dry_run"]}
    if older_than is not None:
        report = operations.prune(older_than, status=status, backend=backend, **chunking)
    elif status is not None:
        raise CommandError("--status needs --older-than.")
    elif not config.retention:
        raise CommandError(
            f"Give --older-than (e.g. 30d), or set TASKS[{backend!r}]['OPTIONS']"
            "['RETENTION'] (e.g. {'succeeded': '7d', 'failed': '30d'})."
        )
    else:
        report = operations.prune_by_retention(backend=backend, **chunking)
    verb = "would delete" if report.dry_run else "deleted"
    details = ", ".join(f"{s}: {n}" for s, n in report.deleted.items())
    if out.as_json:
        out.write(
            output.to_json(
                {
                    verb.replace(" ", "_"): dict(report.deleted),
                    "total": report.total,
                    "flows": report.flows,
                    "expired_dedup_keys": report.dedup_keys,
                    "services": report.services,
                    "service_events": report.service_events,
                    "dead_service_messages": report.service_messages,
                }
            )
        )
    else:
        parts = [f"{output.plural(report.total, 'task')} ({details})"]
        if report.flows:
            parts.append(output.plural(report.flows, "finished flow"))
        if report.dedup_keys:
            parts.append(f"{report.dedup_keys} expired deduplication keys")
        if report.services:
            parts.append(output.plural(report.services, "ended service"))
        if report.service_events:
            parts.append(output.plural(report.service_events, "service event"))
        if report.service_messages:
            parts.append(output.plural(report.service_messages, "dead service message"))
        listed = ", ".join(parts[:-1]) + " and " + parts[-1] if len(parts) > 1 else parts[0]
        out.say(f"{verb} {listed}")
