"""Raw-SQL baseline on SQLite (WAL): the queue protocol with no framework.

The same protocol as ``raw_postgres.py``: insert; claim in one ``UPDATE ...
RETURNING`` under ``BEGIN IMMEDIATE`` (SQLite has one writer, so there is
nothing to skip); complete, writing one attempt row per task in the same
transaction; ``--batch`` tasks per claim; ``--procs`` processes.

    python benchmarks/raw_sqlite.py --n 20000 --procs 4 --batch 50
"""

from __future__ import annotations

import argparse
import multiprocessing
import sqlite3
import tempfile
import time
from pathlib import Path

DDL = """
CREATE TABLE rawq (id INTEGER PRIMARY KEY, name TEXT, queue TEXT DEFAULT 'default',
  priority INT DEFAULT 0, status TEXT DEFAULT 'queued', args TEXT DEFAULT '[]', result TEXT,
  run_after REAL DEFAULT 0, enqueued_at REAL, started_at REAL, finished_at REAL,
  lease_until REAL, worker TEXT);
CREATE INDEX rawq_ready ON rawq (queue, priority DESC, run_after, id) WHERE status = 'queued';
CREATE TABLE rawq_attempt (id INTEGER PRIMARY KEY, task_id INTEGER NOT NULL REFERENCES rawq (id),
  number INT NOT NULL, worker TEXT NOT NULL, started_at REAL NOT NULL, finished_at REAL NOT NULL,
  outcome TEXT NOT NULL, error TEXT);
CREATE INDEX rawq_attempt_task ON rawq_attempt (task_id);
"""
CLAIM = """UPDATE rawq SET status = 'running', started_at = ?, lease_until = ?, worker = ?
WHERE id IN (
  SELECT id FROM rawq WHERE status = 'queued' AND queue = 'default' AND run_after <= ?
  ORDER BY priority DESC, run_after, id LIMIT ?)
RETURNING id, name, args"""
COMPLETE = "UPDATE rawq SET status = 'succeeded', finished_at = ?, result = 'null' WHERE id = ?"
RECORD = """INSERT INTO rawq_attempt (task_id, number, worker, started_at, finished_at, outcome)
VALUES (?, 1, ?, ?, ?, 'succeeded')"""


def connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, timeout=30, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    return conn


def drain_worker(path: Path, batch: int, worker: str, out: multiprocessing.Queue[int]) -> None:
    conn = connect(path)
    done = 0
    while True:
        now = time.time()
        conn.execute("BEGIN IMMEDIATE")
        ids = [row[0] for row in conn.execute(CLAIM, (now, now + 60, worker, now, batch))]
        conn.execute("COMMIT")
        if not ids:
            break
        now = time.time()
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany(COMPLETE, [(now, task_id) for task_id in ids])
        conn.executemany(RECORD, [(task_id, worker, now, now) for task_id in ids])
        conn.execute("COMMIT")
        done += len(ids)
    conn.close()
    out.put(done)


def measure(tasks: int = 20_000, procs: int = 4, batch: int = 50) -> dict[str, float]:
    """Return tasks/s for ``enqueue`` (one insert each), ``bulk`` and ``drain``."""
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "raw.sqlite3"
        conn = connect(path)
        conn.executescript(DDL)
        singles = min(tasks, 2_000)
        started = time.perf_counter()
        for _ in range(singles):
            conn.execute("INSERT INTO rawq (name, enqueued_at) VALUES ('noop', ?)", (time.time(),))
        enqueue = singles / (time.perf_counter() - started)
        conn.execute("DELETE FROM rawq")
        started = time.perf_counter()
        conn.execute("BEGIN")
        now = time.time()
        conn.executemany(
            "INSERT INTO rawq (name, enqueued_at) VALUES (?, ?)", [("noop", now)] * tasks
        )
        conn.execute("COMMIT")
        bulk = tasks / (time.perf_counter() - started)
        conn.close()
        drain = run_drain(path, tasks, procs, batch)
    return {"enqueue": enqueue, "bulk": bulk, "drain": drain}


def run_drain(path: Path, tasks: int, procs: int, batch: int) -> float:
    context = multiprocessing.get_context("fork")
    out: multiprocessing.Queue[int] = context.Queue()
    started = time.perf_counter()
    workers = [
        context.Process(target=drain_worker, args=(path, batch, f"w{n}", out)) for n in range(procs)
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
        f"single-insert enqueue: {figures['enqueue']:,.0f}/s  bulk enqueue: {figures['bulk']:,.0f}/s\n"
        f"drain procs={args.procs} batch={args.batch} +attempts: {figures['drain']:,.0f} tasks/s"
    )


if __name__ == "__main__":
    main()
