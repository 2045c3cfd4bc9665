"""Throughput, latency, start-up and memory of the queue, beside a raw-SQL baseline.

Prints figures, each the median of ``--runs`` runs (3 by default), next to
the issue's target and, where one exists, as a share of a raw-SQL baseline
of the same protocol measured in the same run (``raw_postgres.py``,
``raw_sqlite.py``). Every run uses a fresh database; attempts and their
events are recorded as in production.

    python benchmarks/run.py                       # everything, both databases
    python benchmarks/run.py --quick               # one smaller run of each
    python benchmarks/run.py --db sqlite --only drain,baseline
    python benchmarks/run.py --db sqlite --sqlite-settings default
    python benchmarks/run.py --db postgres --pg-settings both

Figures (``--only``): baseline, enqueue, bulk, drain, first, latency,
memory, history, limits (the drain beside capped and rate-limited tasks,
and alone, alternated in one run), log (the drain with the per-attempt log
lines off and on, alternated in one run), schedule (the scheduler's lateness, on
SQLite: ``--db sqlite --sqlite-settings recommended --only schedule``),
prune (the drain while ``taskflow prune`` deletes ``--prune-rows`` old
tasks, default 1,000,000: ``--db sqlite --sqlite-settings recommended
--only prune``), admin (the admin's task list at ``--admin-rows`` tasks,
default 10,000,000, built with COPY; PostgreSQL only, about 10 minutes,
so never part of the default set: ``--db postgres --only admin``; see
``admin_list.py``), typed (decoding a typed dataclass argument, per task,
in process: ``--only typed``; see ``typed_decode.py``). Everything talks to 127.0.0.1 only. PostgreSQL runs use
the database ``tf_bench`` (recreated per run) and the baseline
``tf_bench_raw``.

Workers log at WARNING, so the drains leave out the per-attempt lines;
``--log-level INFO`` measures every figure with them (the ``log`` figure
compares both in one run).
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

import raw_postgres  # noqa: E402
import raw_sqlite  # noqa: E402
from report import print_table  # noqa: E402

POSTGRES_SERVER = "postgres://postgres@127.0.0.1:5432"
# TASKFLOW_BENCH_DB: another database name, so that two checkouts can measure at once.
BENCH_DB = os.environ.get("TASKFLOW_BENCH_DB", "tf_bench")
FIGURE_NAMES = (
    "baseline", "enqueue", "bulk", "drain", "first", "latency", "memory", "history", "limits",
    "log", "schedule",
    "prune", "admin", "typed",
)  # fmt: skip
# Figures that only run when named in --only (they take many minutes).
ON_REQUEST = {"admin"}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--db", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument(
        "--sqlite-settings",
        choices=["default", "recommended", "both"],
        default="both",
        help="SQLite connection options: Django's defaults, those taskflow.W002 recommends, "
        "or both (default)",
    )
    parser.add_argument(
        "--pg-settings",
        choices=["default", "recommended", "both"],
        default="recommended",
        help="PostgreSQL connection options: Django's defaults (no prepared statements), "
        'or the recommended "prepare_threshold": 5 (default), or both',
    )
    parser.add_argument("--runs", type=int, default=None, help="runs per figure (default 3)")
    parser.add_argument("--tasks", type=int, default=None, help="tasks per drain (default 20000)")
    parser.add_argument("--singles", type=int, default=None, help="one-by-one enqueues (5000)")
    parser.add_argument("--samples", type=int, default=None, help="latency samples (200)")
    parser.add_argument(
        "--history", type=int, default=None, help="finished tasks for the history drain (1000000)"
    )
    parser.add_argument(
        "--prune-rows", type=int, default=None, help="old tasks to prune (default 1000000)"
    )
    parser.add_argument(
        "--admin-rows", type=int, default=10_000_000, help="tasks for the admin list (10000000)"
    )
    parser.add_argument(
        "--admin-reuse",
        action="store_true",
        help="time the admin list on the database a previous --admin-keep run left",
    )
    parser.add_argument(
        "--admin-keep", action="store_true", help="keep the admin list's database afterwards"
    )
    parser.add_argument("--only", default="", help=f"comma-separated: {', '.join(FIGURE_NAMES)}")
    parser.add_argument(
        "--log-level",
        choices=["DEBUG", "INFO", "WARNING"],
        default=os.environ.get("TASKFLOW_BENCH_LOG_LEVEL", "WARNING"),
        help="the workers' django_taskflow log level: INFO writes the per-attempt lines "
        "(default: WARNING, or TASKFLOW_BENCH_LOG_LEVEL)",
    )
    parser.add_argument(
        "--quick", action="store_true", help="1 run, 5000 tasks, 100000 history rows"
    )
    args = parser.parse_args()
    quick = args.quick
    args.runs = args.runs or (1 if quick else 3)
    args.tasks = args.tasks or (5_000 if quick else 20_000)
    args.singles = args.singles or (1_000 if quick else 5_000)
    args.samples = args.samples or (50 if quick else 200)
    args.history = args.history if args.history is not None else (100_000 if quick else 1_000_000)
    args.prune_rows = args.prune_rows or (100_000 if quick else 1_000_000)
    only = {name for name in args.only.split(",") if name}
    if only - set(FIGURE_NAMES):
        parser.error(f"--only takes {', '.join(FIGURE_NAMES)}; got {args.only!r}")
    args.only = only
    # Read by benchmarks/settings.py in every process the runs start.
    os.environ["TASKFLOW_BENCH_LOG_LEVEL"] = args.log_level

    print_machine()
    print(f"workers log at {args.log_level}", flush=True)
    for db, variant in setups(args):
        if args.only and not args.only - ON_REQUEST:
            continue  # only figures measured on their own, below
        figures = measure_database(args, db, variant)
        print_table(args, db, variant, figures)
    if "admin" in args.only:
        if args.db == "sqlite":
            parser.error("the admin list is measured on PostgreSQL: --db postgres --only admin")
        run_admin_list(args)
    print(f"\nfinished {time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime())}, "
          f"load average {os.getloadavg()[0]:.2f}")  # fmt: skip


def setups(args: argparse.Namespace) -> list[tuple[str, str]]:
    found = []
    if args.db in ("sqlite", "both"):
        variants = (
            ["recommended", "default"] if args.sqlite_settings == "both" else [args.sqlite_settings]
        )
        found += [("sqlite", variant) for variant in variants]
    if args.db in ("postgres", "both"):
        variants = ["recommended", "default"] if args.pg_settings == "both" else [args.pg_settings]
        found += [("postgres", variant) for variant in variants]
    return found


def wants(args: argparse.Namespace, name: str) -> bool:
    return name in args.only if name in ON_REQUEST or args.only else True


def measure_database(args: argparse.Namespace, db: str, variant: str) -> dict[str, float]:
    """Run the baseline and the product ``args.runs`` times; return the median of each figure."""
    product_names = (
        set(args.only) - {"baseline", "history", "prune", *ON_REQUEST} if args.only else set()
    )
    wants_product = not args.only or bool(product_names)
    product_options = [
        "--tasks", str(args.tasks), "--singles", str(args.singles),
        "--samples", str(args.samples), "--only", ",".join(sorted(product_names)),
    ]  # fmt: skip
    history_options = [
        "--tasks", str(args.tasks), "--singles", "0", "--samples", "0",
        "--history", str(args.history), "--runs", str(args.runs),
    ]  # fmt: skip
    wants_baseline = wants(args, "baseline") or wants(args, "drain") or wants(args, "limits")
    runs: list[dict[str, float]] = []
    for number in range(args.runs if wants_baseline or wants_product else 0):
        print(f"  {db} {variant} run {number + 1}/{args.runs} ...", flush=True)
        figures: dict[str, float] = {}
        if wants_baseline:
            raw = (raw_postgres if db == "postgres" else raw_sqlite).measure(args.tasks)
            figures.update({f"raw_{key}": value for key, value in raw.items()})
        if wants_product:
            figures.update(run_child(db, variant, product_options))
        runs.append(figures)
    medians = {
        key: statistics.median(run[key] for run in runs if key in run)
        for key in {key for run in runs for key in run}
    }
    if db == "postgres" and args.history and wants(args, "history"):
        print(f"  {db} history: {args.history:,} rows, {args.runs} drains each ...", flush=True)
        medians.update(run_child(db, variant, history_options))
    if wants(args, "prune"):
        print(f"  {db} prune: {args.prune_rows:,} rows beside drains ...", flush=True)
        prune_options = [
            "--tasks", str(args.tasks), "--singles", "0", "--samples", "0",
            "--prune", str(args.prune_rows), "--runs", str(args.runs),
        ]  # fmt: skip
        medians.update(run_child(db, variant, prune_options))
    return medians


def run_child(db: str, variant: str, options: list[str]) -> dict[str, float]:
    """Migrate a fresh database, then run ``measure.py`` on it in a child process."""
    with tempfile.TemporaryDirectory(prefix="taskflow-bench-") as workdir:
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "benchmarks.settings",
            "PYTHONPATH": str(ROOT),
            "TASKFLOW_VAR_DIR": workdir,
            # Which connection options benchmarks/settings.py gives the database.
            "TASKFLOW_BENCH_SQLITE_SETTINGS" if db == "sqlite" else "TASKFLOW_BENCH_PG_SETTINGS": (
                variant
            ),
        }
        env.pop("DATABASE_URL", None)
        # The encrypted drain's key: fresh for each run, never stored.
        env["TASKFLOW_ENCRYPTION_KEYS"] = json.dumps(
            [{"id": "bench", "key": base64.b64encode(os.urandom(32)).decode()}]
        )
        # Measure a start as users get it: with compiled bytecode cached. With
        # PYTHONDONTWRITEBYTECODE set, every worker recompiles our modules.
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        if db == "postgres":
            recreate_postgres()
            env["DATABASE_URL"] = f"{POSTGRES_SERVER}/{BENCH_DB}"
        subprocess.run(
            [sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True
        )
        log = Path(workdir) / "workers.log"
        done = subprocess.run(
            [sys.executable, str(HERE / "measure.py"), "--log", str(log), *options],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
        )
        if done.returncode:
            sys.stderr.write(done.stdout + done.stderr)
            if log.exists():
                sys.stderr.write(log.read_text()[-4000:])
            raise SystemExit(f"the {db} run failed")
        for line in done.stdout.splitlines():
            if line.startswith("RESULT "):
                return dict(json.loads(line.removeprefix("RESULT ")))
        raise SystemExit(f"the {db} run printed no result:\n{done.stdout}")


def run_admin_list(args: argparse.Namespace) -> None:
    """Build (or reuse) the big history on PostgreSQL and time the admin list on it."""
    print(f"\n== PostgreSQL: the admin's task list at {args.admin_rows:,} tasks ==", flush=True)
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "benchmarks.settings",
        "PYTHONPATH": str(ROOT),
        "DATABASE_URL": f"{POSTGRES_SERVER}/{BENCH_DB}",
    }
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    if not args.admin_reuse:
        recreate_postgres()
    try:
        with tempfile.TemporaryDirectory(prefix="taskflow-bench-") as workdir:
            env["TASKFLOW_VAR_DIR"] = workdir
            subprocess.run(
                [sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True
            )
            options = ["--rows", str(args.admin_rows), "--runs", str(max(args.runs, 5))]
            subprocess.run(
                [sys.executable, str(HERE / "admin_list.py"), *options, "--reuse"],
                cwd=ROOT,
                env=env,
                check=True,
            )
    finally:
        if not args.admin_keep:
            drop_postgres()


def drop_postgres() -> None:
    import psycopg

    with psycopg.connect(f"{POSTGRES_SERVER}/postgres", autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {BENCH_DB} WITH (FORCE)")


def recreate_postgres() -> None:
    import psycopg

    with psycopg.connect(f"{POSTGRES_SERVER}/postgres", autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {BENCH_DB} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {BENCH_DB}")


def print_machine() -> None:
    print(
        f"make bench, {time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime())} on "
        f"{socket.gethostname()}: {os.cpu_count()} CPUs, {platform.processor() or platform.machine()}, "
        f"Python {platform.python_version()}, load average {os.getloadavg()[0]:.2f}",
        flush=True,
    )


if __name__ == "__main__":
    main()
