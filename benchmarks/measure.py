"""One benchmark run against one fresh, migrated database (run by ``run.py``).

Runs with Django set up (``benchmarks.settings``) and prints its figures as
one JSON line starting with ``RESULT``. Workers are real ``manage.py
taskworker`` processes, started the way a user starts them.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "benchmarks.settings")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tasks", type=int, required=True)
    parser.add_argument("--singles", type=int, required=True)
    parser.add_argument("--samples", type=int, required=True)
    parser.add_argument("--only", default="")
    parser.add_argument("--history", type=int, default=0)
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--prune", type=int, default=0, help="rows to prune beside drains")
    parser.add_argument("--log", required=True)
    args = parser.parse_args()

    import django

    django.setup()
    bench = Bench(args.tasks, Path(args.log))
    if args.prune:
        figures = bench.prune_beside_drain(args.prune, args.runs)
    elif args.history:
        figures = bench.history(args.history, args.runs)
    else:
        wanted = set(args.only.split(",")) if args.only else set()
        figures = bench.run(wanted, singles=args.singles, samples=args.samples)
    print("RESULT " + json.dumps(figures), flush=True)


# A short backlog, drained by a freshly started worker, is dominated by its start.
FIRST_TASK_BACKLOG = 10
# The "limits" figure: tasks under a concurrency cap and under a rate limit,
# this many of each, queued beside the drain's no-ops.
LIMITED_TASKS = 200


class Bench:
    def __init__(self, tasks: int, log: Path) -> None:
        from testproject.demo.tasks import noop, noop_capped, noop_rate_limited

        self.tasks = tasks
        self.log = log
        self.noop = noop
        self.limited = (noop_capped, noop_rate_limited)

    def run(self, wanted: set[str], *, singles: int, samples: int) -> dict[str, float]:
        def want(name: str) -> bool:
            return not wanted or name in wanted

        figures: dict[str, float] = {}
        if want("enqueue"):
            figures["enqueue"] = self.enqueue_one_by_one(singles)
        if want("bulk"):
            figures["bulk"] = self.enqueue_bulk(self.tasks)
        if want("drain"):
            figures["drain"], figures["first_backlog"] = self.drain(self.tasks)
            figures.update(self.drain_encrypted(self.tasks))
        if want("limits"):
            figures.update(self.drain_beside_limits(self.tasks))
        if want("log"):
            figures.update(self.drain_logged(self.tasks))
        if want("first"):
            figures["first"] = self.drain(FIRST_TASK_BACKLOG)[1]
        if want("latency") or want("memory"):
            figures.update(self.idle_latency_and_memory(samples))
        if want("schedule"):
            figures.update(self.schedule_lateness(samples))
        if want("typed"):
            import typed_decode  # beside this script

            figures.update(typed_decode.measure())
        return figures

    def clear(self) -> None:
        """Delete the benchmark's tasks and, on PostgreSQL, vacuum their dead rows away.

        Without the vacuum, the claim index of the next phase still holds
        the deleted rows, and they sort before the new ones: each claim of
        the drain would first step over them.
        """
        from django.db import connection

        from django_taskflow import models

        paths = [definition.module_path for definition in (self.noop, *self.limited)]
        paths.append("benchmarks.encrypted_drain.noop_encrypted")
        models.Task.objects.filter(task_path__in=paths).delete()
        models.RateStart.objects.all().delete()
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                for model in (models.Event, models.Attempt, models.Task, models.RateStart):
                    cursor.execute(f"VACUUM ANALYZE {model._meta.db_table}")

    def enqueue_one_by_one(self, count: int) -> float:
        # Warm up: the first calls open the connection and fill Django's caches.
        for _ in range(20):
            self.noop.enqueue()
        self.clear()
        started = time.perf_counter()
        for _ in range(count):
            self.noop.enqueue()
        rate = count / (time.perf_counter() - started)
        self.clear()
        return rate

    def enqueue_bulk(self, count: int) -> float:
        self.noop.enqueue_many([()] * 100)
        self.clear()
        started = time.perf_counter()
        self.noop.enqueue_many([()] * count)
        rate = count / (time.perf_counter() - started)
        self.clear()
        return rate

    def start_worker(self, *extra: str, log_level: str = "") -> subprocess.Popen[bytes]:
        """Start ``taskworker --concurrency 4``; ``log_level`` sets its ``django_taskflow``
        logger's (benchmarks/settings.py), else ``run.py --log-level`` does."""
        env = {**os.environ, "TASKFLOW_BENCH_LOG_LEVEL": log_level} if log_level else None
        with self.log.open("ab") as log:
            return subprocess.Popen(
                [sys.executable, "manage.py", "taskworker", "--concurrency", "4", *extra],
                cwd=ROOT,
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=log,
            )

    def drain_beside_limits(self, count: int) -> dict[str, float]:
        """The drain of no-ops alone, then beside capped and rate-limited tasks.

        Both in this run, alternated (median of three each), so that the
        machine's load changes both alike. The limited tasks are queued
        with the no-ops and served by the same burst worker; the figure is
        the no-ops' rate. The worker stops when nothing more can start,
        leaving the rate-limited tasks beyond the first 5 queued.
        """
        plain, beside = [], []
        for _ in range(3):
            plain.append(self.drain(count)[0])
            beside.append(self.drain(count, limited=LIMITED_TASKS)[0])
        return {"limits_plain": statistics.median(plain), "limits": statistics.median(beside)}

    def drain_encrypted(self, count: int) -> dict[str, float]:
        """The drain of no-ops whose payloads are encrypted, beside plain ones.

        Alternated in this run (median of three each), as ``drain_beside_limits``
        does, so that the machine's load changes both alike.
        """
        from benchmarks.encrypted_drain import noop_encrypted

        plain, encrypted = [], []
        for _ in range(3):
            plain.append(self.drain(count)[0])
            encrypted.append(self.drain(count, definition=noop_encrypted)[0])
        return {
            "encrypted_plain": statistics.median(plain),
            "encrypted": statistics.median(encrypted),
        }

    def drain_logged(self, count: int) -> dict[str, float]:
        """The drain with the per-attempt log lines off (WARNING) and on (INFO).

        Alternated in this run (median of three each), as ``drain_encrypted``
        does. The lines go to the run's worker log file, as a worker's
        stderr goes to a file or a journal in production.
        """
        off, on = [], []
        for _ in range(3):
            off.append(self.drain(count, log_level="WARNING")[0])
            on.append(self.drain(count, log_level="INFO")[0])
        return {"log_off": statistics.median(off), "log_on": statistics.median(on)}

    def drain(
        self, count: int, limited: int = 0, definition: Any = None, log_level: str = ""
    ) -> tuple[float, float]:
        """Drain ``count`` queued no-ops with a fresh burst worker.

        Returns the rate from the first body start to the last finish, and
        the time from the worker's process start to its first body start.
        With ``limited``, that many tasks of each limited kind are queued
        beside them (see ``drain_beside_limits``).
        """
        from django.db.models import Max, Min

        from django_taskflow import models

        drained = definition or self.noop
        self.clear()
        drained.enqueue_many([()] * count)
        for limited_definition in self.limited if limited else ():
            limited_definition.enqueue_many([()] * limited)
        spawned = time.time()
        worker = self.start_worker("--burst", log_level=log_level)
        if worker.wait(timeout=600):
            raise RuntimeError(f"the burst worker exited with {worker.returncode}; see {self.log}")
        tasks = models.Task.objects.filter(task_path=drained.module_path)
        pending = tasks.exclude(status="succeeded").count()
        if pending:
            raise RuntimeError(f"{pending} of {count} tasks did not succeed; see {self.log}")
        span = tasks.aggregate(first=Min("started_at"), last=Max("finished_at"))
        if limited:
            # Checked before clear() deletes them: the capped ones all ran.
            capped = models.Task.objects.filter(task_path=self.limited[0].module_path)
            if capped.exclude(status="succeeded").exists():
                raise RuntimeError(f"capped tasks were left unrun; see {self.log}")
        self.clear()
        rate = count / max((span["last"] - span["first"]).total_seconds(), 1e-6)
        return rate, span["first"].timestamp() - spawned

    def idle_latency_and_memory(self, samples: int) -> dict[str, float]:
        """Enqueue one task at a time to an idle worker; time from enqueue to body start.

        Then give the same worker a burst of work and, once it is idle
        again, read the memory of its processes.
        """
        from django_taskflow import models

        worker = self.start_worker()
        try:
            self.noop.enqueue().wait(timeout=60)  # the worker is up and warm
            delays = []
            for _ in range(samples):
                time.sleep(0.02)  # let the slots go idle again
                result = self.noop.enqueue().wait(timeout=30)
                delays.append((result.started_at - result.enqueued_at).total_seconds())
            self.noop.enqueue_many([()] * 2_000)
            deadline = time.monotonic() + 120
            unfinished = models.Task.objects.filter(task_path=self.noop.module_path).exclude(
                status="succeeded"
            )
            while unfinished.exists():
                if time.monotonic() > deadline:
                    raise RuntimeError(f"the worker did not finish 2,000 tasks; see {self.log}")
                time.sleep(0.1)
            memory = pss_of_tree(worker.pid)
        finally:
            worker.send_signal(signal.SIGTERM)
            worker.wait(timeout=60)
        self.clear()
        delays.sort()
        return {
            "latency_p50": statistics.median(delays) * 1000,
            "latency_p95": delays[max(0, int(len(delays) * 0.95) - 1)] * 1000,
            **memory,
        }

    def schedule_lateness(self, samples: int) -> dict[str, float]:
        """How late schedulers fire a 1-second schedule.

        Three workers (each with its scheduler and 4 slots) fire a schedule
        every second for ``samples`` seconds (at most 120). Two figures per
        run: from its planned time to the tick that fired it (the
        scheduler's lateness), and to the start of its task's body (what a
        user sees, claim included).
        """
        from datetime import timedelta

        from django_taskflow import models, schedule

        schedule(self.noop, every=timedelta(seconds=1), name="bench-every-second", overlap="allow")
        workers = [self.start_worker() for _ in range(3)]
        try:
            wanted = max(10, min(samples, 120))
            deadline = time.monotonic() + wanted + 60
            runs = models.ScheduleRun.objects.filter(schedule__name="bench-every-second")
            while runs.count() < wanted + 5:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"the schedule fired too few runs; see {self.log}")
                time.sleep(0.5)
        finally:
            for worker in workers:
                worker.send_signal(signal.SIGTERM)
            for worker in workers:
                worker.wait(timeout=60)
        # The first runs come while the workers start: not a scheduler's lateness.
        measured = list(runs.select_related("task").order_by("planned_at")[5:])
        late = sorted((run.fired_at - run.planned_at).total_seconds() for run in measured)
        started = sorted(
            (run.task.started_at - run.planned_at).total_seconds()
            for run in measured
            if run.task is not None and run.task.started_at is not None
        )
        models.Schedule.objects.filter(name="bench-every-second").delete()
        self.clear()
        return {
            "schedule_p50": statistics.median(late) * 1000,
            "schedule_p99": late[max(0, int(len(late) * 0.99) - 1)] * 1000,
            "schedule_start_p99": started[max(0, int(len(started) * 0.99) - 1)] * 1000,
        }

    def history(self, rows: int, runs: int) -> dict[str, float]:
        """Drain rate with ``rows`` finished tasks in the tables, as a share of empty."""
        empty = statistics.median(self.drain(self.tasks)[0] for _ in range(runs))
        add_history(rows)
        full = statistics.median(self.drain(self.tasks)[0] for _ in range(runs))
        return {"history_empty": empty, "history_full": full, "history": 100 * full / empty}

    def prune_beside_drain(self, rows: int, runs: int) -> dict[str, float]:
        """Drain rate while ``taskflow prune`` deletes ``rows`` old tasks, as a share of without.

        Both drains run with the ``rows`` old tasks in the tables, alternated
        (``runs`` pairs, at least 3): a drain alone, then a drain beside a
        prune, so that the machine's load and the tables' growth change both
        alike. Each prune is a ``manage.py taskflow prune`` process, as an
        operator runs it, deleting each task with its attempt and two
        events. Its drain starts once it has deleted its first chunk (its
        process start is not the prune) and counts only if the prune still
        runs when the drain ends; then the prune is stopped (its open chunk
        rolls back). The prune's rate is the rows deleted over the time the
        prunes ran.
        """
        from django_taskflow import models

        # "Without the prune" is measured on the same tables: history slows
        # a drain on its own (bigger indexes; on SQLite, a WAL to fold back).
        add_history(rows, age_days=40)
        settle()
        old = models.Task.objects.filter(task_path="history.old_task")
        alone, during = [], []
        pruning_seconds = 0.0
        for _ in range(max(runs, 3)):
            alone.append(self.drain(self.tasks)[0])
            before = old.count()
            with self.log.open("ab") as log:
                pruner = subprocess.Popen(
                    [sys.executable, "manage.py", "taskflow", "prune", "--older-than", "30d"],
                    cwd=ROOT,
                    stdout=log,
                    stderr=log,
                )
            deadline = time.monotonic() + 120
            while old.count() == before:
                if pruner.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"the prune deleted nothing; see {self.log}")
                time.sleep(0.1)
            started = time.perf_counter()
            rate = self.drain(self.tasks)[0]
            if pruner.poll() is None:  # the whole drain ran beside the prune
                during.append(rate)
            pruning_seconds += time.perf_counter() - started
            if pruner.poll() is None:
                # SIGTERM, not SIGINT: a process started in the background
                # inherits SIGINT ignored. Its open chunk rolls back.
                pruner.terminate()
                pruner.wait(timeout=60)
            elif pruner.returncode:
                raise RuntimeError(f"the prune exited with {pruner.returncode}; see {self.log}")
        if not during:
            raise RuntimeError("the prune ended before a drain did: prune more rows")
        return {
            "prune_drain_alone": statistics.median(alone),
            "prune_drain_during": statistics.median(during),
            "prune": 100 * statistics.median(during) / statistics.median(alone),
            "prune_rows_per_second": (rows - old.count()) / pruning_seconds,
            "prune_drains": float(len(during)),
        }


def settle() -> None:
    """Fold SQLite's write-ahead log into the database (PostgreSQL: vacuum), as a quiet
    moment in production would, so that the drains compare like with like."""
    from django.db import connection

    from django_taskflow import models

    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        else:
            for model in (models.Event, models.Attempt, models.Task):
                cursor.execute(f"VACUUM ANALYZE {model._meta.db_table}")


def pss_of_tree(pid: int) -> dict[str, float]:
    """PSS in MB of the supervisor ``pid`` and of its largest slot child."""
    children = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # The command name may hold spaces; the parent pid follows its closing bracket.
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            children.append(int(entry.name))
    slots = [pss_mb(child) for child in children]
    return {
        "pss_supervisor": pss_mb(pid),
        "pss_slot": max(slots) if slots else float("nan"),
        "slots": float(len(slots)),
    }


def pss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        if line.startswith("Pss:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no Pss line in /proc/{pid}/smaps_rollup")


def add_history(rows: int, age_days: int = 1) -> None:
    """Insert ``rows`` finished tasks, each with its attempt and two events, in SQL.

    They finished ``age_days`` ago. One set-based INSERT per table
    (``generate_series`` on PostgreSQL, a recursive CTE on SQLite).
    """
    from django.db import connection

    from django_taskflow import models

    task_table = models.Task._meta.db_table
    attempt_table = models.Attempt._meta.db_table
    event_table = models.Event._meta.db_table
    # Ids ordered by insertion, as UUIDv7 ids are by enqueue time: old rows
    # sit together in the primary key, as in production.
    if connection.vendor == "postgresql":
        new_id = "(lpad(to_hex(i), 12, '0') || substr(md5(random()::text), 1, 20))::uuid"
        then = f"now() - interval '{int(age_days)} days'"
        numbers = "generate_series(1, %s) AS g(i)"
        prefix = ""
    else:
        # Django keeps UUIDs as 32 hex digits and datetimes as UTC text on SQLite.
        new_id = "printf('%%012x', i) || lower(hex(randomblob(10)))"
        then = f"strftime('%%Y-%%m-%%d %%H:%%M:%%f', 'now', '-{int(age_days)} days')"
        numbers = "n"
        prefix = "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < %s) "
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            {prefix}INSERT INTO {task_table} (id, task_path, backend, queue_name, priority, status,
                args, kwargs, result, tags, attempts, max_attempts, retry_policy,
                progress_detail, run_after, enqueued_at, started_at, last_attempted_at,
                finished_at, lost_attempts, on_lost, cancelled_by, cancel_reason)
            SELECT {new_id}, 'history.old_task', 'default', 'default', 0, 'succeeded',
                '[]', '{{}}', '1', '[]', 1, 1, '{{}}', '{{}}', {then}, {then}, {then}, {then},
                {then}, 0, 'requeue', '', ''
            FROM {numbers}
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
            FROM {task_table}, (SELECT 'started' AS kind UNION ALL SELECT 'succeeded') AS kinds
            WHERE task_path = 'history.old_task'"""
        )
        for table in (task_table, attempt_table, event_table):
            cursor.execute(f"ANALYZE {table}")


if __name__ == "__main__":
    main()
