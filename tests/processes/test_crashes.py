"""What a crash may cost: real workers killed, stopped and stuck."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from django_taskflow import models
from django_taskflow.states import Status
from tests import tasks
from tests.conftest import WorkerProcesses, wait_for

pytestmark = pytest.mark.processes


def lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


def test_thread_pool_starts_no_slot_and_claims_nothing_after_sigterm(
    workers: WorkerProcesses, tmp_path: Path
) -> None:
    mark = tmp_path / "started"
    tasks.blocks_in_sleep.enqueue(str(mark))  # its slot is given up about 4 s in
    process = workers.start("--pool", "thread", grace_seconds=30)
    wait_for(lambda: lines(mark))
    process.send_signal(signal.SIGTERM)
    arrived_late = tasks.add.enqueue(1, 2)

    # The given-up slot is not replaced, so nothing is left to wait for.
    assert process.wait(timeout=20) == 0
    row = models.Task.objects.get(pk=arrived_late.id)
    assert (row.status, row.attempts) == (Status.QUEUED, 0)
