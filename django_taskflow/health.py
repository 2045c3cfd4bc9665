"""Is the queue healthy? One answer for ``taskflow health`` and ``/taskflow/health``.

Four checks, in order: the database answers, every migration is applied,
a worker is alive, and the oldest ready task has waited less than
``OPTIONS["HEALTH_MAX_READY_AGE_SECONDS"]`` (or the command's
``--max-ready-age``). When the database does not answer, the other
checks are reported as not run.

With ``OPTIONS["ALERTS"]`` a fifth check lists the open alert incidents.
Only an open ``no_worker`` incident fails it: the other rules report
trouble in the queue (a backlog, failures, a missed run) that a restart
of the probed process would not cure, so they page through their own
channels without making an orchestrator restart anything.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db import DatabaseError, connections
from django.utils import timezone

from django_taskflow import stats, worker_status
from django_taskflow.conf import Options

# With no worker alive, the check says how many tasks wait, counting no
# further than this: a probe must stay cheap under a deep backlog.
READY_COUNTED = 1000


@dataclass(frozen=True, slots=True, kw_only=True)
class Check:
    """One check's verdict and what it saw."""

    name: str
    ok: bool
    detail: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Health:
    """Every check's verdict; ``healthy`` only when all passed."""

    checks: tuple[Check, ...]

    @property
    def healthy(self) -> bool:
        return all(check.ok for check in self.checks)

    def as_json(self) -> dict[str, object]:
        return {
            "healthy": self.healthy,
            "checks": {c.name: {"ok": c.ok, "detail": c.detail} for c in self.checks},
        }


def workers_alive(database: str, backend: str) -> int:
    """How many workers of ``backend`` are alive now: their heartbeat row has not lapsed."""
    return worker_status.workers_alive(using=database).filter(backend=backend).count()


_migrated: set[str] = set()  # databases seen fully migrated: migrations are not undone live


def unapplied_migrations(database: str) -> list[str]:
    """The migrations not yet applied to ``database``, as app.name."""
    if database in _migrated:
        return []
    from django.db.migrations.executor import MigrationExecutor

    executor = MigrationExecutor(connections[database])
    plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
    missing = [f"{migration.app_label}.{migration.name}" for migration, _backwards in plan]
    if not missing:
        _migrated.add(database)
    return missing


def check(
    options: Options,
    backend: str = "default",
    *,
    max_ready_age: float | None = None,
    now: datetime | None = None,
) -> Health:
    """Run every check against ``backend``; never raises for a database fault."""
    database = options.database
    limit = options.health_max_ready_age_seconds if max_ready_age is None else max_ready_age
    try:
        with connections[database].cursor() as cursor:
            cursor.execute("SELECT 1")
    except DatabaseError as exc:
        not_run = "not checked: the database does not answer"
        return Health(
            checks=(
                Check(name="database", ok=False, detail=f"{database!r} does not answer: {exc}"),
                *(Check(name=n, ok=False, detail=not_run) for n in ("migrations", "workers")),
                Check(name="ready_age", ok=False, detail=not_run),
            )
        )
    results = [Check(name="database", ok=True, detail=f"{database!r} answers")]
    try:
        missing = unapplied_migrations(database)
    except DatabaseError as exc:
        missing = [f"(cannot read the migration table: {exc})"]
    results.append(
        Check(
            name="migrations",
            ok=not missing,
            detail=f"not applied: {', '.join(missing)}" if missing else "all applied",
        )
    )
    if missing:
        skipped = "not checked: migrations are missing"
        results += [
            Check(name="workers", ok=False, detail=skipped),
            Check(name="ready_age", ok=False, detail=skipped),
        ]
        return Health(checks=tuple(results))
    now = now or timezone.now()
    age = stats.oldest_ready_age(options, backend, now)
    alive = workers_alive(database, backend)
    if alive:
        results.append(Check(name="workers", ok=True, detail=f"{alive} alive"))
    else:
        ready = stats.count_ready(options, backend, now, at_most=READY_COUNTED + 1)
        shown = f"over {READY_COUNTED}" if ready > READY_COUNTED else str(ready)
        waiting = f", and {shown} tasks are ready" if ready else ""
        results.append(Check(name="workers", ok=False, detail=f"none alive{waiting}"))
    if age is None:
        results.append(Check(name="ready_age", ok=True, detail="no task is waiting"))
    else:
        results.append(
            Check(
                name="ready_age",
                ok=age < limit,
                detail=f"the oldest ready task has waited {age:.0f} s (limit {limit:g} s)",
            )
        )
    if options.alerts is not None:
        results.append(alerts_check(database, backend))
    return Health(checks=tuple(results))


def alerts_check(database: str, backend: str) -> Check:
    """The open alert incidents; failed only by an open ``no_worker`` one."""
    from django_taskflow.alerts.incidents import open_incidents
    from django_taskflow.alerts.rules import When

    found = open_incidents(database, backend)
    if not found:
        return Check(name="alerts", ok=True, detail="no open incident")
    listed = "; ".join(f"{incident}: {incident.detail}" for incident in found)
    ok = not any(incident.when == When.NO_WORKER for incident in found)
    return Check(name="alerts", ok=ok, detail=f"{len(found)} open: {listed}")
