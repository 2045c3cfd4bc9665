"""Live progress latency: ``report_progress()`` in a task to a websocket client.

Starts a real ``daphne`` serving ``testproject.asgi`` and a real
``taskworker`` on a fresh database, signs a staff user in, subscribes over
``/ws/taskflow/`` and enqueues a task that reports progress ``--samples``
times. Each frame's latency is its arrival minus its ``"at"``, the time
``report_progress()`` was called (same host, same clock).

    python benchmarks/live.py                         # SQLite, embedded relay
    python benchmarks/live.py --db postgres           # PostgreSQL, relay woken by LISTEN
    python benchmarks/live.py --db postgres --redis   # workers publish to Redis

Redis: ``--redis-url`` (default redis://127.0.0.1:6379/0), under a key
prefix of its own. PostgreSQL runs use the database ``TASKFLOW_BENCH_DB``
(default ``tf_bench``), recreated.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

from run import BENCH_DB, POSTGRES_SERVER, recreate_postgres  # noqa: E402

TASK = "testproject.demo.tasks.progress_ticks"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--redis", action="store_true", help="carry events by channels_redis")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--samples", type=int, default=200, help="progress reports (200)")
    parser.add_argument("--pause", type=float, default=0.02, help="seconds between reports")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="taskflow-live-bench-") as workdir:
        env = environment(args, workdir)
        manage(env, "migrate", "-v0")
        session = manage(env, "shell", "-c", SIGN_IN).strip().splitlines()[-1]
        port = free_port()
        logs = Path(workdir)
        server = start(env, logs / "daphne.log", "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "testproject.asgi:application")  # fmt: skip
        worker = start(env, logs / "worker.log", "manage.py", "taskworker", "--concurrency", "1")
        try:
            latencies = follow(args, env, port, session)
        finally:
            for process in (worker, server):
                os.killpg(process.pid, signal.SIGTERM)
                process.wait(timeout=60)
    report(args, latencies)


SIGN_IN = """
from django.contrib.auth import get_user_model
from django.contrib.sessions.backends.db import SessionStore
user = get_user_model().objects.create_user("bench", password="x", is_staff=True)
session = SessionStore()
session["_auth_user_id"] = str(user.pk)
session["_auth_user_backend"] = "django.contrib.auth.backends.ModelBackend"
session["_auth_user_hash"] = user.get_session_auth_hash()
session.save()
print(session.session_key)
"""


def environment(args: argparse.Namespace, workdir: str) -> dict[str, str]:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "benchmarks.settings",
        "PYTHONPATH": str(ROOT),
        "TASKFLOW_VAR_DIR": workdir,
    }
    env.pop("DATABASE_URL", None)
    for name in ("TASKFLOW_REDIS_URL", "TASKFLOW_REDIS_PREFIX"):
        env.pop(name, None)
    if args.db == "postgres":
        recreate_postgres()
        env["DATABASE_URL"] = f"{POSTGRES_SERVER}/{BENCH_DB}"
    if args.redis:
        env["TASKFLOW_REDIS_URL"] = args.redis_url
        env["TASKFLOW_REDIS_PREFIX"] = f"taskflow-bench-{uuid.uuid4().hex[:8]}"
    return env


def manage(env: dict[str, str], *command: str) -> str:
    done = subprocess.run(
        [sys.executable, "manage.py", *command],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    return done.stdout


def start(env: dict[str, str], log: Path, *command: str) -> subprocess.Popen[bytes]:
    with log.open("w") as output:
        return subprocess.Popen(
            [sys.executable, *command],
            cwd=ROOT,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def wait_until_listening(port: int) -> None:
    deadline = time.monotonic() + 60
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def follow(args: argparse.Namespace, env: dict[str, str], port: int, session: str) -> list[float]:
    """Subscribe, enqueue the reporting task, and return each progress frame's latency (s)."""
    from websockets.sync.client import connect

    wait_until_listening(port)
    with connect(
        f"ws://127.0.0.1:{port}/ws/taskflow/",
        origin=f"http://127.0.0.1:{port}",  # type: ignore[arg-type]
        additional_headers={"Cookie": f"sessionid={session}"},
    ) as websocket:
        websocket.send(json.dumps({"type": "subscribe", "name": TASK}))
        reply = json.loads(websocket.recv(timeout=30))
        if reply.get("type") != "subscribed":
            raise SystemExit(f"subscription refused: {reply}")
        # In the background: the frames are read while the enqueueing process exits.
        enqueue = f"from testproject.demo.tasks import progress_ticks; progress_ticks.enqueue({args.samples}, {args.pause})"  # fmt: skip
        enqueuer = subprocess.Popen([sys.executable, "manage.py", "shell", "-c", enqueue], cwd=ROOT, env=env)  # fmt: skip
        latencies = []
        while True:
            frame = json.loads(websocket.recv(timeout=120))
            arrived = time.time()
            if frame.get("event") == "progress":
                latencies.append(arrived - datetime.fromisoformat(frame["at"]).timestamp())
            if frame.get("status") in {"succeeded", "failed"}:
                enqueuer.wait(timeout=60)
                return latencies


def report(args: argparse.Namespace, latencies: list[float]) -> None:
    path = "Redis (channels_redis)" if args.redis else "embedded relay (event log)"
    cuts = statistics.quantiles(latencies, n=100)
    print(
        f"live latency, {args.db}, {path}: {len(latencies)} of {args.samples} progress reports, "
        f"p50 {cuts[49] * 1000:.1f} ms, p95 {cuts[94] * 1000:.1f} ms, "
        f"max {max(latencies) * 1000:.1f} ms "
        f"({time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime())}, "
        f"load average {os.getloadavg()[0]:.2f})"
    )


if __name__ == "__main__":
    main()
