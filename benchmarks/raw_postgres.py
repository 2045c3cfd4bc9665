"""Raw-SQL baseline on PostgreSQL: the queue protocol with no framework.

How fast can PostgreSQL on this machine move no-op tasks at all? Insert;
claim with ``FOR UPDATE SKIP LOCKED``; complete, writing one attempt row per
task in the completing transaction; ``--batch`` tasks per claim; ``--procs``
processes. The product's figures are printed as a share of these, taken in
the same run, because machines of one kind differ by more than 2x from day
to day.

    python benchmarks/raw_postgres.py --n 20000 --procs 4 --batch 50

The tables live in their own database (created if missing) and are dropped
at the end.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import time

import psycopg

SERVER = "host=127.0.0.1 port=5432 user=postgres"
# TASKFLOW_BENCH_RAW_DB: another name, so that two checkouts can measure at once.
DATABASE = os.environ.get("TASKFLOW_BENCH_RAW_DB", "tf_bench_raw")

DDL = """
DROP TABLE IF EXISTS rawq_attempt;
DROP TABLE IF EXISTS rawq;
CREATE TABLE rawq (
  id bigserial PRIMARY KEY,
  name text NOT NULL,
  queue text NOT NULL DEFAULT 'default',
  priority int NOT NULL DEFAULT 0,
  status text NOT NULL DEFAULT 'queued',
  args jsonb NOT NULL DEFAULT '[]',
  result jsonb,
  run_after timestamptz NOT NULL DEFAULT now(),
  enqueued_at timestamptz NOT NULL DEFAULT now(),
  started_at timestamptz,
  finished_at timestamptz,
  lease_until timestamptz,
  worker text
);
CREATE INDEX rawq_ready ON rawq (queue, priority DESC, run_after, id) WHERE status = 'queued';
CREATE TABLE rawq_attempt (
  id bigserial PRIMARY KEY,
  task_id bigint NOT NULL REFERENCES rawq (id),
  number int NOT NULL,
  worker text NOT NULL,
  started_at timestamptz NOT NULL,
  finished_at timestamptz NOT NULL,
  outcome text NOT NULL,
  error text
);
CREATE INDEX rawq_attempt_task ON rawq_attempt (task_id);
"""

DROP = "DROP TABLE IF EXISTS rawq_attempt; DROP TABLE IF EXISTS rawq;"

CLAIM = """
UPDATE rawq SET status = 'running', started_at = now(),
  lease_until = now() + interval '60 s', worker = %s
WHERE id IN (
  SELECT id FROM rawq WHERE status = 'queued' AND queue = 'default' AND run_after <= now()
  ORDER BY priority DESC, run_after, id
  FOR UPDATE SKIP LOCKED LIMIT %s)
RETURNING id, name, args
"""
COMPLETE = (
    "UPDATE rawq SET status = 'succeeded', finished_at = now(), result = 'null' WHERE id = ANY(%s)"
)
RECORD = """INSERT INTO rawq_attempt (task_id, number, worker, started_at, finished_at, outcome)
SELECT unnest(%s::bigint[]), 1, %s, now(), now(), 'succeeded'"""


def dsn(database: str = DATABASE) -> str:
    return f"{SERVER} dbname={database}"


def ensure_database() -> None:
    """Create the baseline's own database if it is missing."""
    with psycopg.connect(dsn("postgres"), autocommit=True) as conn:
        found = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [DATABASE]).fetchone()
        if not found:
            conn.execute(f"CREATE DATABASE {DATABASE}")


def drain_worker(batch: int, worker: str, out: multiprocessing.Queue[int]) -> None:
    done = 0
    with psycopg.connect(dsn(), autocommit=True) as conn:
        cursor = conn.cursor()
        while True:
            cursor.execute(CLAIM, (worker, batch))
            ids = [row[0] for row in cursor.fetchall()]
            if not ids:
                break
            with conn.transaction():
                cursor.execute(COMPLETE, (ids,))
                cursor.execute(RECORD, (ids, worker))
            done += len(ids)
    out.put(done)


def measure(tasks: int = 20_000, procs: int = 4, batch: int = 50) -> dict[str, float]:
    """Return tasks/s for ``enqueue`` (one insert each), ``bulk`` (COPY) and ``drain``."""
    ensure_database()
    singles = min(tasks, 2_000)
    try:
        with psycopg.connect(dsn(), autocommit=True) as conn:
            conn.execute(DDL)
            started = time.perf_counter()
            with conn.cursor() as cursor:
                for _ in range(singles):
                    cursor.execute("INSERT INTO rawq (name, args) VALUES (%s, %s)", ("noop", "[]"))
            enqueue = singles / (time.perf_counter() - started)
            conn.execute("TRUNCATE rawq, rawq_attempt")
            started = time.perf_counter()
            with conn.cursor().copy("COPY rawq (name, args) FROM STDIN") as copy:
                for _ in range(tasks):
                    copy.write_row(("noop", "[]"))
            bulk = tasks / (time.perf_counter() - started)
            conn.execute("ANALYZE rawq")
        drain = run_drain(tasks, procs, batch)
    finally:
        with psycopg.connect(dsn(), autocommit=True) as conn:
            conn.execute(DROP)
    return {"enqueue": enqueue, "bulk": bulk, "drain": drain}


def run_drain(tasks: int, procs: int, batch: int) -> float:
    context = multiprocessing.get_context("fork")
    out: multiprocessing.Queue[int] = context.Queue()
    started = time.perf_counter()
    workers = [
        context.Process(target=drain_worker, args=(batch, f"w{n}", out)) for n in range(procs)
    ]
    for process in workers:
        process.start()
    total = sum(out.get() for _ in workers)
    for process in workers:
        process.join()
    elapsed = time.perf_counter() - started
    if total != tasks:
        raise RuntimeError(f"raw drain moved {total} of {tasks} tasks")
    return total / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=20_000)
    parser.add_argument("--procs", type=int, default=4)
    parser.add_argument("--batch", type=int, default=50)
    args = parser.parse_args()
    figures = measure(args.n, args.procs, args.batch)
    print(
        f"single-insert enqueue: {figures['enqueue']:,.0f}/s  COPY enqueue: {figures['bulk']:,.0f}/s\n"
        f"drain procs={args.procs} batch={args.batch} +attempts: {figures['drain']:,.0f} tasks/s"
    )


if __name__ == "__main__":
    main()
