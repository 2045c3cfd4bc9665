"""The admin's task list at 10 M tasks on PostgreSQL (run by ``run.py --only admin``).

Builds the history once with ``COPY`` (secondary indexes dropped during the
load and rebuilt after it, as a bulk load is done), ``ANALYZE``s, then
times the real admin views through Django's test ``Client``, logged in as
a superuser: the default page, each filter, each kind of search and a
late page. Each figure is the median of ``--runs`` requests after one
warm-up: the wall time, the web process's CPU time (what a shared
machine's load does not stretch), and the time of the warm-up's SQL
queries; a query over 100 ms has its plan printed. Beside each, the
raw-SQL baseline: the same page's rows (the list's columns, 100 rows, in
the list's order) read by hand-written SQL through psycopg, no Django.
Attempts and events (one task in ten keeps its attempt and two events)
are derived from the copied tasks with INSERT ... SELECT.

The database (``TASKFLOW_BENCH_DB``) is kept between runs when
``--reuse`` finds it already built, so the timing can be repeated while
tuning; ``run.py`` drops it at the end unless ``--admin-keep`` is given.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "benchmarks.settings")

TARGET_MS = 300.0
DAYS = 30
# (module, functions, queue, share of the tasks): 20 task names on 4 queues.
TASK_NAMES = [
    ("shop.tasks", ["send_receipt", "charge_card", "refund", "sync_stock", "ship_order"],
     "default", 0.55),
    ("mail.tasks", ["send_email", "send_digest", "bounce", "unsubscribe", "render_template"],
     "emails", 0.25),
    ("reports.tasks", ["daily_sales", "export_csv", "rebuild_index", "thumbnail", "invoice_pdf"],
     "reports", 0.15),
    ("ops.tasks", ["ping", "cleanup", "rotate_keys", "warm_cache", "audit"],
     "high", 0.05),
]  # fmt: skip
TAGS = [f"tenant:{n}" for n in range(1, 41)] + ["nightly", "import", "urgent", "retry-storm"]
WORKER_SLOTS = [f"host-{h}:{1000 + h}:{s}" for h in range(1, 9) for s in range(4)]
QUEUED_ROWS = 10_000  # the newest tasks wait in a backlog
RUNNING_ROWS = len(WORKER_SLOTS)
ATTEMPT_EVERY = 10  # one task in ten keeps its attempt and two events
TASK_COLUMNS = (
    "id", "task_path", "backend", "queue_name", "priority", "status", "args", "kwargs",
    "result", "key", "tags", "attempts", "max_attempts", "retry_policy", "progress",
    "progress_detail", "run_after", "worker_id", "lease_expires_at", "enqueued_at",
    "started_at", "last_attempted_at", "finished_at",
)  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--reuse", action="store_true", help="keep rows already built")
    parser.add_argument("--build-only", action="store_true")
    args = parser.parse_args()

    import django

    django.setup()
    from django_taskflow import models

    present = models.Task.objects.order_by().values("pk")[: args.rows].count()
    if not (args.reuse and present >= args.rows):
        started = time.perf_counter()
        build(args.rows)
        print(f"built {args.rows:,} tasks in {time.perf_counter() - started:.0f} s", flush=True)
    if args.build_only:
        return
    print_indexes()
    figures = time_views(args.runs, args.rows)
    print("RESULT " + json.dumps(figures), flush=True)


def task_choices() -> list[tuple[str, str, float]]:
    """(task path, queue, weight): within a module, the first names run most."""
    choices = []
    for module, functions, queue, share in TASK_NAMES:
        weights = [1 / (rank + 1) for rank in range(len(functions))]
        total = sum(weights)
        choices += [
            (f"{module}.{name}", queue, share * weight / total)
            for name, weight in zip(functions, weights, strict=True)
        ]
    return choices


def task_lines(rows: int, now: datetime) -> Iterator[str]:
    """The tasks as COPY text lines, oldest first (ids ordered by time, as UUIDv7 are)."""
    rng = random.Random(10)
    choices = task_choices()
    paths = rng.choices(choices, weights=[weight for *_, weight in choices], k=rows)
    start = now - timedelta(days=DAYS)
    step = (now - start) / rows
    finished_rows = rows - QUEUED_ROWS - RUNNING_ROWS
    for n, (path, queue, _weight) in enumerate(paths):
        enqueued = start + step * n
        millis = int(enqueued.timestamp() * 1000)
        task_id = f"{millis:012x}7{rng.getrandbits(12):03x}{0x8000 | rng.getrandbits(14):04x}"
        task_id += f"{rng.getrandbits(48):012x}"
        key = f"order-{n}" if n % 5 == 0 else r"\N"
        roll = rng.random()
        tags = "[]"
        if roll < 0.3:
            tags = json.dumps(sorted({rng.choice(TAGS[:40]), rng.choice(TAGS)}))
        if n < finished_rows:
            status = "succeeded" if roll < 0.94 else ("failed" if roll < 0.98 else "cancelled")
            started = enqueued + timedelta(milliseconds=rng.randint(1, 2000))
            finished = started + timedelta(milliseconds=rng.randint(20, 5000))
            attempts, max_attempts = (3, 3) if status == "failed" else (1, 1)
            result = '{"ok": true}' if status == "succeeded" else r"\N"
            times = [enqueued, r"\N", r"\N", enqueued, started, started, finished]
            worker, progress = r"\N", r"\N"
        elif n < finished_rows + RUNNING_ROWS:
            status, attempts, max_attempts, result, progress = "running", 1, 1, r"\N", "0.5"
            worker = WORKER_SLOTS[n % RUNNING_ROWS]
            started = enqueued + timedelta(milliseconds=5)
            lease = now + timedelta(seconds=30)
            times = [enqueued, worker, lease, enqueued, started, started, r"\N"]
        else:
            status, attempts, max_attempts, result = "queued", 0, 1, r"\N"
            worker, progress = r"\N", r"\N"
            times = [enqueued, r"\N", r"\N", enqueued, r"\N", r"\N", r"\N"]
        values = [
            task_id, path, "default", queue, 0, status, "[1, 2]", "{}", result, key, tags,
            attempts, max_attempts, "{}", progress, "{}", *times,
        ]  # fmt: skip
        if status != "running":
            values[17] = worker
        yield "\t".join(str(value) for value in values) + "\n"


def build(rows: int) -> None:
    """Fill the task, attempt and event tables with ``rows`` tasks by COPY, then ANALYZE."""
    from django.db import connection

    from django_taskflow import models

    tables = [model._meta.db_table for model in (models.Task, models.Attempt, models.Event)]
    task_table, attempt_table, event_table = tables
    now = datetime.now(UTC)
    connection.ensure_connection()
    # Django's connection is in autocommit mode: VACUUM needs it, and each
    # step below commits on its own.
    raw = connection.connection
    with raw.cursor() as cursor:
        cursor.execute(f"TRUNCATE {', '.join(tables)} CASCADE")
        cursor.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = ANY(%s) "
            "AND indexname NOT IN (SELECT conname FROM pg_constraint)",
            [tables],
        )
        secondary = cursor.fetchall()
        for name, _definition in secondary:
            cursor.execute(f'DROP INDEX "{name}"')
        for table in tables:  # the notify trigger and the foreign keys' checks
            cursor.execute(f"ALTER TABLE {table} DISABLE TRIGGER ALL")
        started = time.perf_counter()
        copy_lines(cursor, task_table, TASK_COLUMNS, task_lines(rows, now))
        print(f"  COPY {rows:,} tasks: {time.perf_counter() - started:.0f} s", flush=True)
        started = time.perf_counter()
        # Attempts and events of one task in ten, copied from the tasks just loaded.
        cursor.execute(
            f"""CREATE TEMP TABLE sampled AS SELECT id, status, worker_id, started_at, finished_at
            FROM {task_table} WHERE finished_at IS NOT NULL
            AND ('x' || substr(md5(id::text), 1, 4))::bit(16)::int % {ATTEMPT_EVERY} = 0"""
        )
        cursor.execute(
            f"""INSERT INTO {attempt_table} (task_id, number, worker_id, started_at, finished_at,
                outcome, error_class, error_message, traceback)
            SELECT id, 1, 'host-1:1001:0', started_at, finished_at,
                CASE status WHEN 'succeeded' THEN 'succeeded' WHEN 'failed' THEN 'failed'
                ELSE 'cancelled' END, '', '', '' FROM sampled"""
        )
        cursor.execute(
            f"""INSERT INTO {event_table} (task_id, kind, attempt, created_at, data)
            SELECT id, kind, 1, finished_at, '{{}}' FROM sampled,
                (VALUES ('started'), ('succeeded')) AS kinds(kind) ORDER BY finished_at"""
        )
        print(f"  attempts and events: {time.perf_counter() - started:.0f} s", flush=True)
        for table in tables:
            cursor.execute(f"ALTER TABLE {table} ENABLE TRIGGER ALL")
        started = time.perf_counter()
        cursor.execute("SET maintenance_work_mem = '512MB'")
        for _name, definition in secondary:
            cursor.execute(definition)
        print(
            f"  {len(secondary)} indexes rebuilt: {time.perf_counter() - started:.0f} s",
            flush=True,
        )
        for table in tables:
            cursor.execute(f"VACUUM ANALYZE {table}")


def copy_lines(cursor: Any, table: str, columns: tuple[str, ...], lines: Iterator[str]) -> None:
    """COPY ``lines`` (tab-separated text) into ``table``, 8 MB at a time."""
    with cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
        chunk: list[str] = []
        size = 0
        for line in lines:
            chunk.append(line)
            size += len(line)
            if size > 8 << 20:
                copy.write("".join(chunk))
                chunk, size = [], 0
        copy.write("".join(chunk))


def print_indexes() -> None:
    from django.db import connection

    from django_taskflow import models

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = %s ORDER BY indexname",
            [models.Task._meta.db_table],
        )
        indexes = cursor.fetchall()
    full = [name for name, definition in indexes if " WHERE " not in definition]
    print(
        f"task table: {len(indexes)} indexes, {len(full)} over every row ({', '.join(full)})",
        flush=True,
    )


def views(now: datetime, rows: int) -> list[tuple[str, str, str]]:
    """(label, admin query string, the raw baseline's WHERE clause) of each timed view."""
    from django_taskflow import models

    first = models.Task.objects.order_by("enqueued_at").values_list("id", flat=True)[
        min(12_345, rows // 2)
    ]
    today = now.replace(hour=0, minute=0, second=0, microsecond=0)
    week = (today - timedelta(days=7)).isoformat()
    tomorrow = (today + timedelta(days=1)).isoformat()
    enqueued_week = {"enqueued_at__gte": week, "enqueued_at__lt": tomorrow}
    finished_week = {"finished_at__gte": week, "finished_at__lt": tomorrow}
    return [
        ("default page", "", "true"),
        ("page 2", "p=2", "true"),
        (f"page {late_page(rows):,}", f"p={late_page(rows)}", "true"),
        ("status = failed", "status__exact=failed", "status = 'failed'"),
        ("status = queued", "status__exact=queued", "status = 'queued'"),
        ("status = succeeded", "status__exact=succeeded", "status = 'succeeded'"),
        ("task name (common)", "task_path__exact=shop.tasks.send_receipt",
         "task_path = 'shop.tasks.send_receipt'"),
        ("task name (rare)", "task_path__exact=ops.tasks.audit", "task_path = 'ops.tasks.audit'"),
        ("queue = high", "queue_name__exact=high", "queue_name = 'high'"),
        ("tag = tenant:7", "tag=tenant:7",
         "tags <> '[]'::jsonb AND tags @> '[\"tenant:7\"]'"),
        ("tag = urgent", "tag=urgent", "tags <> '[]'::jsonb AND tags @> '[\"urgent\"]'"),
        ("worker", f"worker={WORKER_SLOTS[3]}",
         f"status = 'running' AND worker_id = '{WORKER_SLOTS[3]}'"),
        ("enqueued past 7 days", urlencode(enqueued_week),
         f"enqueued_at >= '{week}' AND enqueued_at < '{tomorrow}'"),
        ("finished past 7 days", urlencode(finished_week),
         f"finished_at >= '{week}' AND finished_at < '{tomorrow}'"),
        ("not finished", "finished_at__isnull=True", "finished_at IS NULL"),
        ("failed on queue emails", "status__exact=failed&queue_name__exact=emails",
         "status = 'failed' AND queue_name = 'emails'"),
        ("search: id", f"q={first}", f"id = '{first}'"),
        ("search: key", "q=order-5000", "key = 'order-5000'"),
        ("search: name prefix (common)", "q=shop.tasks.",
         "(key = 'shop.tasks.' OR task_path LIKE 'shop.tasks.%%')"),
        ("search: name prefix (rare)", "q=ops.tasks.au",
         "(key = 'ops.tasks.au' OR task_path LIKE 'ops.tasks.au%%')"),
        ("search: no match", "q=shop.taks.send",
         "(key = 'shop.taks.send' OR task_path LIKE 'shop.taks.send%%')"),
    ]  # fmt: skip


def late_page(rows: int) -> int:
    """Page 1,000, or the middle page of a smaller history."""
    return max(2, min(1_000, rows // 200))


def time_views(runs: int, rows: int) -> dict[str, float]:
    """Median milliseconds of each view, through the admin and by raw SQL."""
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.db import connection, reset_queries
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "testserver"]
    user_model = get_user_model()
    user = user_model.objects.filter(username="bench-admin").first()
    if user is None:
        user = user_model.objects.create_superuser("bench-admin", "", "unused")
    client = Client()
    client.force_login(user)
    url = "/admin/django_taskflow/task/"
    figures: dict[str, float] = {}
    print(
        f"{'view':<30} {'admin':>9} {'web CPU':>9} {'SQL':>8} {'raw SQL':>9} {'queries':>8}"
        "  slowest query",
        flush=True,
    )
    for label, query, where in views(datetime.now(UTC), rows):
        # Each request empties the query log (request_started): start it at 0.
        reset_queries()
        with CaptureQueriesContext(connection) as captured:
            response = client.get(f"{url}?{query}")
        queries = list(captured.captured_queries)  # a view of the log, which requests empty
        if response.status_code != 200:
            raise RuntimeError(f"{label}: HTTP {response.status_code} for ?{query}")
        times, cpu_times = [], []
        for _ in range(runs):
            started, cpu_started = time.perf_counter(), time.process_time()
            client.get(f"{url}?{query}")
            times.append((time.perf_counter() - started) * 1000)
            cpu_times.append((time.process_time() - cpu_started) * 1000)
        admin_ms, cpu_ms = statistics.median(times), statistics.median(cpu_times)
        db_ms = sum(float(entry["time"]) for entry in queries) * 1000
        page = int(query[2:]) if query.startswith("p=") else 1
        offset = 100 * (page - 1)
        raw_ms = raw_page_ms(where, offset, runs)
        slowest = max(queries, key=lambda entry: float(entry["time"]))
        slow_ms = float(slowest["time"]) * 1000
        print(
            f"{label:<30} {admin_ms:>7.1f}ms {cpu_ms:>7.1f}ms {db_ms:>6.1f}ms {raw_ms:>7.1f}ms "
            f"{len(queries):>8}  "
            f"{slow_ms:.1f} ms: {slowest['sql'][:90]}",
            flush=True,
        )
        if slow_ms > TARGET_MS / 3:
            print_plan(slowest["sql"])
        figures[f"admin {label}"] = admin_ms
        figures[f"cpu {label}"] = cpu_ms
        figures[f"raw {label}"] = raw_ms
    return figures


def raw_page_ms(where: str, offset: int, runs: int) -> float:
    """Median ms of the page's rows read by hand: the columns the list shows, 100 rows."""
    import psycopg
    from django.db import connection

    from django_taskflow import models

    table = models.Task._meta.db_table
    sql = (
        "SELECT id, status, task_path, key, queue_name, tags, attempts, lost_attempts, "
        "max_attempts, progress, enqueued_at, started_at, finished_at "
        f"FROM {table} WHERE {where} ORDER BY enqueued_at DESC, id DESC "
        f"LIMIT 100 OFFSET {offset}"
    ).replace("%%", "%")
    params = connection.get_connection_params()
    params.pop("cursor_factory", None)
    params.pop("context", None)
    with psycopg.connect(**params) as raw:
        raw.execute(sql).fetchall()
        times = []
        for _ in range(runs):
            started = time.perf_counter()
            raw.execute(sql).fetchall()
            times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def print_plan(sql: str) -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (ANALYZE, BUFFERS) {sql}")
        for (line,) in cursor.fetchall():
            print(f"      {line}")


if __name__ == "__main__":
    main()
