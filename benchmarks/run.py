"""Throughput and latency of the queue itself, on SQLite and PostgreSQL.

Prints figures; asserts nothing. Each database is measured in a fresh
database by a child process of this script:

    python benchmarks/run.py                 # both databases
    python benchmarks/run.py --db postgres   # one of them
    python benchmarks/run.py --tasks 20000 --history 1000000

Figures: enqueue rate (one call per task, and bulk), drain rate of no-op
tasks with ``taskworker --concurrency 4`` (attempts recorded), idle
enqueue-to-start latency (p50, p95) and, on PostgreSQL, the drain rate again
with a large history of finished tasks.
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
POSTGRES_SERVER = os.environ.get("TASKFLOW_BENCH_POSTGRES", "postgres://postgres@127.0.0.1:5432")
BENCH_DB = "taskflow_bench"


def database_env(db: str, workdir: str) -> dict[str, str]:
    # TASKFLOW_BENCH_LOG_LEVEL=INFO turns the per-attempt log lines on (they go to stderr).
    log_level = os.environ.get("TASKFLOW_BENCH_LOG_LEVEL", "WARNING")
    env = {**os.environ, "TASKFLOW_LOG_LEVEL": log_level, "TASKFLOW_VAR_DIR": workdir}
    env.pop("DATABASE_URL", None)
    if db == "postgres":
        env["DATABASE_URL"] = f"{POSTGRES_SERVER}/{BENCH_DB}"
    return env


def recreate_postgres() -> None:
    import psycopg

    with psycopg.connect(f"{POSTGRES_SERVER}/postgres", autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {BENCH_DB} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {BENCH_DB}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--db", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--tasks", type=int, default=10_000, help="tasks per drain (default 10000)")
    parser.add_argument(
        "--history", type=int, default=1_000_000, help="finished rows for the history run"
    )
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        measure(args)
        return
    for db in ["sqlite", "postgres"] if args.db == "both" else [args.db]:
        with tempfile.TemporaryDirectory() as workdir:
            if db == "postgres":
                recreate_postgres()
            env = database_env(db, workdir)
            subprocess.run(
                [sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True
            )
            print(f"\n== {db} ==", flush=True)
            subprocess.run(
                [
                    sys.executable,
                    __file__,
                    "--child",
                    "--db",
                    db,
                    "--tasks",
                    str(args.tasks),
                    "--history",
                    str(args.history),
                ],
                cwd=ROOT,
                env=env,
                check=True,
            )


# -- child: one database, Django set up ---------------------------------------


def measure(args: argparse.Namespace) -> None:
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "testproject.settings")
    import django

    django.setup()
    from django_taskflow import models
    from testproject.demo.tasks import noop

    def report(name: str, value: float, unit: str) -> None:
        print(f"{name:<44} {value:>10,.1f} {unit}", flush=True)

    # Enqueue, one call each.
    count = min(args.tasks, 5_000)
    started = time.perf_counter()
    for _ in range(count):
        noop.enqueue()
    report("enqueue, one call each", count / (time.perf_counter() - started), "tasks/s")
    models.Task.objects.all().delete()

    # Bulk enqueue.
    started = time.perf_counter()
    noop.enqueue_many([()] * args.tasks)
    report("bulk enqueue (enqueue_many)", args.tasks / (time.perf_counter() - started), "tasks/s")

    report("drain, no-op, concurrency 4", drain(args.tasks, already_queued=True), "tasks/s")

    p50, p95 = latency(200)
    report("idle enqueue-to-start latency p50", p50 * 1000, "ms")
    report("idle enqueue-to-start latency p95", p95 * 1000, "ms")

    if args.db == "postgres" and args.history:
        empty = drain(args.tasks)
        add_history(args.history)
        full = drain(args.tasks)
        report("drain again, empty history (rerun)", empty, "tasks/s")
        report(f"drain with {args.history:,} finished tasks", full, "tasks/s")
        report("  ratio to empty history", 100 * full / empty, "%")


def start_worker(*extra: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "manage.py", "taskworker", "--concurrency", "4", *extra],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
    )


def drain(tasks: int, already_queued: bool = False) -> float:
    """Queue ``tasks`` no-ops, run a burst worker; rate from first start to last finish."""
    from django.db.models import Max, Min

    from django_taskflow import models
    from testproject.demo.tasks import noop

    if not already_queued:
        models.Task.objects.filter(task_path=noop.module_path).delete()
        noop.enqueue_many([()] * tasks)
    worker = start_worker("--burst")
    worker.wait()
    pending = (
        models.Task.objects.exclude(status="succeeded").filter(task_path=noop.module_path).count()
    )
    if pending:
        print(f"  warning: {pending} tasks did not succeed", flush=True)
    span = models.Task.objects.filter(task_path=noop.module_path).aggregate(
        first=Min("last_attempted_at"), last=Max("finished_at")
    )
    models.Task.objects.filter(task_path=noop.module_path).delete()
    return tasks / (span["last"] - span["first"]).total_seconds()


def latency(samples: int) -> tuple[float, float]:
    """Enqueue one task at a time to an idle worker; time from enqueue to start."""
    from testproject.demo.tasks import noop

    worker = start_worker()
    try:
        noop.enqueue().wait(timeout=30)  # the worker is up and warm
        delays = []
        for _ in range(samples):
            time.sleep(0.02)  # let the worker go idle again
            result = noop.enqueue().wait(timeout=30)
            delays.append((result.started_at - result.enqueued_at).total_seconds())
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(timeout=60)
    delays.sort()
    return statistics.median(delays), delays[int(len(delays) * 0.95) - 1]


def add_history(rows: int) -> None:
    """Insert ``rows`` finished tasks, each with its attempt and two events, in SQL."""
    from django.db import connection

    from django_taskflow import models

    task_table = models.Task._meta.db_table
    attempt_table = models.Attempt._meta.db_table
    event_table = models.Event._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            INSERT INTO {task_table} (id, task_path, backend, queue_name, priority, status,
                args, kwargs, result, tags, attempts, max_attempts, retry_policy,
                progress_detail, run_after, enqueued_at, started_at, last_attempted_at,
                finished_at)
            SELECT gen_random_uuid(), 'history.old_task', 'default', 'default', 0, 'succeeded',
                '[]', '{{}}', '1', '[]', 1, 1, '{{}}', '{{}}', now() - interval '1 day',
                now() - interval '1 day', now() - interval '1 day', now() - interval '1 day',
                now() - interval '1 day'
            FROM generate_series(1, %s)
            """,
            [rows],
        )
        cursor.execute(
            f"""INSERT INTO {attempt_table} (task_id, number, worker_id, started_at, finished_at,
                outcome, error_class, error_message, traceback)
            SELECT id, 1, 'history', started_at, finished_at, 'succeeded', '', '', ''
            FROM {task_table} WHERE task_path = 'history.old_task'"""
        )
        cursor.execute(
            f"""INSERT INTO {event_table} (task_id, kind, attempt, created_at, data)
            SELECT id, kind, 1, finished_at, '{{}}'
            FROM {task_table}, (VALUES ('started'), ('succeeded')) AS kinds (kind)
            WHERE task_path = 'history.old_task'"""
        )
        for table in (task_table, attempt_table, event_table):
            cursor.execute(f"ANALYZE {table}")


if __name__ == "__main__":
    main()
