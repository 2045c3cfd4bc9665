"""A task left running by a worker killed with the whole host: stuck, then recovered now."""

from __future__ import annotations

import copy
import os
import signal
from pathlib import Path

import pytest
from django.conf import settings
from django.test import override_settings

from django_taskflow import models, operations
from django_taskflow.states import AttemptOutcome, Status
from tests import tasks
from tests.conftest import WorkerProcesses, wait_for

pytestmark = pytest.mark.processes

LEASE_SECONDS = 2.0


def marks(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


def test_a_task_whose_worker_died_is_stuck_until_recovered_then_runs_again(
    workers: WorkerProcesses, tmp_path: Path
) -> None:
    mark = tmp_path / "started"
    result = tasks.mark_then_sleep.enqueue(str(mark), 600)
    first = workers.start(lease_seconds=LEASE_SECONDS)
    wait_for(lambda: marks(mark))
    os.killpg(first.pid, signal.SIGKILL)  # every worker gone: nobody recovers the lease
    first.wait(timeout=10)

    tasks_settings = copy.deepcopy(settings.TASKS)
    tasks_settings["default"]["OPTIONS"]["LEASE_SECONDS"] = LEASE_SECONDS
    with override_settings(TASKS=tasks_settings):
        # Its lease has not been expired for 3 leases yet: not stuck.
        assert operations.recover_stuck(result.id).changed == 0
        assert models.Task.objects.get(pk=result.id).status == Status.RUNNING
        wait_for(lambda: operations.recover_stuck(result.id, by="ops").changed, timeout=60)

    task = models.Task.objects.get(pk=result.id)
    assert (task.status, task.worker_id, task.lost_attempts) == (Status.QUEUED, None, 1)
    assert task.attempt_set.get().outcome == AttemptOutcome.LOST

    workers.start(lease_seconds=LEASE_SECONDS)
    wait_for(lambda: len(marks(mark)) == 2, timeout=60)  # a new worker runs it again
    assert marks(mark)[1].startswith("2 ")
