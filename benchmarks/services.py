"""Service message latency: ``services.send()`` to the service's ``on_message``.

Starts a real ``taskworker`` (which hosts services) on a fresh database,
starts the ``Echo`` service below, and sends it ``--samples`` messages,
one at a time, ``--pause`` seconds apart, so that each finds the service
idle. Each latency is the ``emitted`` event's time (``on_message`` calls
``context.emit()`` first thing) minus the time ``send()`` was called,
both read on this host's clock.

    python benchmarks/services.py --db postgres
    python benchmarks/services.py --db sqlite
    python benchmarks/services.py --db postgres --code /path/to/another/checkout

``--code`` runs another checkout's ``django_taskflow`` (both the worker and
the sending side), e.g. the commit before a change, to measure beside it.
PostgreSQL runs use the database ``TASKFLOW_BENCH_DB`` (default
``tf_bench``), recreated.
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
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
SERVICE = "benchmarks.services.Echo"
NAME = "bench-echo"


if __name__ != "__main__":  # in the worker; the script imports the checkout's code first
    from django_taskflow import ServiceContext, service

    @service()
    class Echo:
        """Emits each message back, before anything else."""

        def on_message(self, context: ServiceContext, message: Any) -> None:
            context.emit({"n": message})


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="postgres")
    parser.add_argument("--samples", type=int, default=40, help="messages (40)")
    parser.add_argument("--pause", type=float, default=0.35, help="seconds between messages")
    parser.add_argument("--code", type=Path, default=ROOT, help="the checkout to run")
    args = parser.parse_args()
    code = args.code.resolve()
    with tempfile.TemporaryDirectory(prefix="taskflow-services-bench-") as workdir:
        env = environment(args, code, workdir)
        os.environ.update(env)
        sys.path[:0] = [str(code), str(ROOT)]
        subprocess.run(
            [sys.executable, "manage.py", "migrate", "-v0"], cwd=code, env=env, check=True
        )
        with (Path(workdir) / "worker.log").open("w") as log:
            worker = subprocess.Popen(
                [sys.executable, "manage.py", "taskworker", "--concurrency", "1"],
                cwd=code,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        try:
            latencies = measure(args)
        finally:
            os.killpg(worker.pid, signal.SIGTERM)
            worker.wait(timeout=60)
    report(args, code, latencies)


def environment(args: argparse.Namespace, code: Path, workdir: str) -> dict[str, str]:
    sys.path.insert(0, str(HERE))
    from run import BENCH_DB, POSTGRES_SERVER, recreate_postgres

    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "benchmarks.settings",
        # This checkout last: it only adds this module to the other's benchmarks.
        "PYTHONPATH": f"{code}{os.pathsep}{ROOT}",
        "TASKFLOW_VAR_DIR": workdir,
    }
    env.pop("DATABASE_URL", None)
    if args.db == "postgres":
        recreate_postgres()
        env["DATABASE_URL"] = f"{POSTGRES_SERVER}/{BENCH_DB}"
    return env


def measure(args: argparse.Namespace) -> list[float]:
    import django

    django.setup()
    from django_taskflow import services

    services.start(NAME, SERVICE)
    stream = iter(services.events(NAME, after=0, timeout=120))
    if not any(event.kind == "started" for event in stream):
        raise SystemExit("the service did not start within 120 s: see the worker's log")
    latencies = []
    for number in range(args.samples):
        time.sleep(args.pause)
        sent_at = time.time()
        services.send(NAME, number)
        for event in stream:
            if event.kind == "emitted" and event.data.get("n") == number:
                latencies.append(event.created_at.timestamp() - sent_at)
                break
        else:
            raise SystemExit(f"message {number} got no echo within 120 s")
    services.stop(NAME)
    return latencies


def report(args: argparse.Namespace, code: Path, latencies: list[float]) -> None:
    print(
        f"service send -> on_message, {args.db}, {code}: {len(latencies)} messages, "
        f"median {statistics.median(latencies) * 1000:.1f} ms, "
        f"min {min(latencies) * 1000:.1f} ms, max {max(latencies) * 1000:.1f} ms "
        f"({time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime())}, "
        f"load average {os.getloadavg()[0]:.2f})"
    )


if __name__ == "__main__":
    main()
