"""``taskflow workers`` with a real worker: alive while it runs, gone after a kill."""

from __future__ import annotations

import json
import os
import signal
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command

from tests import tasks
from tests.conftest import WorkerProcesses, wait_for

pytestmark = pytest.mark.processes

# lease_seconds=3: a heartbeat a second, so a killed worker reads as gone 3 s later.
LEASE = 3


def workers_json() -> list[dict[str, Any]]:
    out = StringIO()
    call_command("taskflow", "workers", "--json", stdout=out)
    rows: list[dict[str, Any]] = json.loads(out.getvalue())
    return rows


def test_workers_shows_a_real_worker_running_a_task_then_gone_once_killed(
    workers: WorkerProcesses, tmp_path: Path
) -> None:
    process = workers.start(
        "--concurrency", "2", "--capabilities", "gpu", "--name", "ops", lease_seconds=LEASE
    )
    result = tasks.mark_then_sleep.enqueue(str(tmp_path / "started"), 30.0)
    [row] = wait_for(
        lambda: [r for r in workers_json() if result.id in r["running_task_ids"]], timeout=20
    )
    assert (row["worker_id"], row["pid"], row["name"], row["state"]) == (
        f"ops:{process.pid}",
        process.pid,
        "ops",
        "alive",
    )
    assert (row["slots"], len(row["slot_ids"]), row["capabilities"]) == (2, 2, ["gpu"])

    os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=10)
    wait_for(lambda: [r["state"] for r in workers_json()] == ["gone"], timeout=3 * LEASE * 3)
