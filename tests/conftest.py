"""Shared fixtures: a deadline poller and real worker processes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from django.db import connection

ROOT = Path(__file__).resolve().parent.parent


def wait_for(predicate: Callable[[], Any], timeout: float = 30.0, interval: float = 0.05) -> Any:
    """Poll ``predicate`` until it returns something truthy; fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            pytest.fail(f"condition not met within {timeout} s: {predicate}")
        time.sleep(interval)


def claim_for(worker_id: str, *, limit: int = 1, lease_seconds: float = 30) -> list[Any]:
    """Claim ready tasks of the default queue for ``worker_id``, as a worker would."""
    from django.utils import timezone

    from django_taskflow.claim import claim_batch

    return claim_batch(
        database="default",
        worker_id=worker_id,
        queues=["default"],
        limit=limit,
        lease_seconds=lease_seconds,
        now=timezone.now(),
    )


def expire_leases(worker_id: str) -> None:
    """Make the leases ``worker_id`` holds a minute past, by the database's clock."""
    from django_taskflow import models
    from django_taskflow.db import LeaseUntil

    models.Task.objects.filter(worker_id=worker_id, status="running").update(
        lease_expires_at=LeaseUntil(-60)
    )


def database_url() -> str:
    """A DATABASE_URL that points a child process at the test database."""
    settings = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{settings['NAME']}"
    user = settings.get("USER") or "postgres"
    host = settings.get("HOST") or "127.0.0.1"
    port = settings.get("PORT") or 5432
    return f"postgres://{user}@{host}:{port}/{settings['NAME']}"


class WorkerProcesses:
    """Starts ``manage.py taskworker`` processes against the test database."""

    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        self.processes: list[subprocess.Popen[str]] = []

    def start(
        self,
        *args: str,
        lease_seconds: float = 30,
        grace_seconds: float | None = None,
        clock_skew_seconds: float = 0,
        poll_interval: float = 1,
        cancel_grace_seconds: float | None = None,
        extra_env: dict[str, str] | None = None,
    ) -> subprocess.Popen[str]:
        """Start a worker; ``clock_skew_seconds`` sets its clock that far off."""
        env = {
            **os.environ,
            "DATABASE_URL": database_url(),
            "TASKFLOW_LEASE_SECONDS": str(lease_seconds),
            "TASKFLOW_POLL_INTERVAL": str(poll_interval),
            "TASKFLOW_LOG_LEVEL": "INFO",
            "PYTHONPATH": str(ROOT),
        }
        if grace_seconds is not None:
            env["TASKFLOW_GRACE_SECONDS"] = str(grace_seconds)
        if cancel_grace_seconds is not None:
            env["TASKFLOW_CANCEL_GRACE_SECONDS"] = str(cancel_grace_seconds)
        if clock_skew_seconds:
            env["TASKFLOW_TEST_CLOCK_SKEW_SECONDS"] = str(clock_skew_seconds)
        env.update(extra_env or {})
        with (self.tmp_path / f"worker-{len(self.processes)}.log").open("w") as log:
            process = subprocess.Popen(
                [sys.executable, "manage.py", "taskworker", *args],
                cwd=ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                text=True,
                start_new_session=True,
            )
        self.processes.append(process)
        return process

    def log(self, process: subprocess.Popen[str]) -> str:
        return (self.tmp_path / f"worker-{self.processes.index(process)}.log").read_text()

    def stop_all(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)


@pytest.fixture
def workers(transactional_db: None, tmp_path: Path) -> Iterator[WorkerProcesses]:
    """Real worker processes on the (committed) test database; killed afterwards."""
    processes = WorkerProcesses(tmp_path)
    yield processes
    processes.stop_all()
    # Captured, so pytest shows the workers' logs only when the test failed.
    for process in processes.processes:
        sys.stdout.write(f"--- log of worker {process.pid} ---\n{processes.log(process)}\n")


def heartbeat_worker(host: str = "host", pid: int = 7) -> str:
    """Write a fresh WorkerProcess row, as a live worker with one slot would; return the slot id."""
    from django_taskflow.worker.presence import Identity, Presence, SlotInfo

    slot_id = f"{host}:{pid}:0"
    identity = Identity(
        worker_id=f"{host}:{pid}",
        host=host,
        pid=pid,
        name=host,
        backend="default",
        pool="process",
        queues=("default",),
        capabilities=frozenset(),
        concurrency=1,
    )
    Presence(identity, database="default", heartbeat_seconds=10).run_if_due(
        [SlotInfo(0, pid + 1, slot_id)], list
    )
    return slot_id


REDIS_URL = os.environ.get("TASKFLOW_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def redis_reachable(url: str = REDIS_URL) -> bool:
    """Whether a Redis server answers at ``url`` (tests of the Redis path skip otherwise)."""
    import redis

    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=1).ping())
    except redis.RedisError:
        return False


@pytest.fixture
def redis_channel_layer(settings: Any) -> Iterator[dict[str, str]]:
    """Channels' Redis layer, under a key prefix of this test's own; the env a child process needs."""
    if not redis_reachable():
        pytest.skip(f"no Redis server at {REDIS_URL}")
    import redis

    prefix = f"taskflow-test-{uuid.uuid4().hex[:12]}"
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [REDIS_URL], "prefix": prefix},
        }
    }
    yield {"TASKFLOW_REDIS_URL": REDIS_URL, "TASKFLOW_REDIS_PREFIX": prefix}
    client = redis.Redis.from_url(REDIS_URL)
    for key in client.scan_iter(f"{prefix}*"):
        client.delete(key)
    client.close()
