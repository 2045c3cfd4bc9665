"""Deduplication across processes: one task per call, whoever enqueues it, and debounce."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from django.db import connection
from django.utils import timezone

from django_taskflow import models
from django_taskflow.states import Status
from tests import tasks
from tests.conftest import ROOT, WorkerProcesses, database_url, wait_for

pytestmark = [pytest.mark.processes, pytest.mark.django_db(transaction=True)]

PROCESSES = 5
WORKERS = 4 if connection.vendor == "postgresql" else 2
THREADS = 10  # 50 enqueues in all


@pytest.mark.parametrize("task_name", ["deduplicated_add", "unique_add", "debounced_record"])
def test_fifty_concurrent_enqueues_of_one_call_from_several_processes_make_one_task(
    tmp_path: Path, task_name: str
) -> None:
    go = tmp_path / "go"
    env = {**os.environ, "DATABASE_URL": database_url(), "PYTHONPATH": str(ROOT)}
    processes = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.processes.enqueue_burst",
                task_name,
                str(THREADS),
                str(tmp_path / f"ready-{index}"),
                str(go),
            ],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for index in range(PROCESSES)
    ]
    try:
        wait_for(
            lambda: (
                all((tmp_path / f"ready-{index}").exists() for index in range(PROCESSES))
                or any(process.poll() is not None for process in processes)
            ),
            timeout=90,
        )
        go.touch()  # every thread of every process is connected and waiting: go
        outputs = [process.communicate(timeout=120) for process in processes]
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait()
    for process, (_, errors) in zip(processes, outputs, strict=True):
        assert process.returncode == 0, errors

    answers = [json.loads(line) for stdout, _ in outputs for line in stdout.splitlines()]
    assert len(answers) == PROCESSES * THREADS
    [task] = models.Task.objects.all()
    assert {task_id for task_id, _ in answers} == {str(task.pk)}
    assert sorted(deduplicated for _, deduplicated in answers) == [False] + [True] * 49


def test_a_debounced_burst_runs_once_after_it_is_quiet_with_the_last_arguments(
    workers: WorkerProcesses, tmp_path: Path
) -> None:
    log = tmp_path / "ran"
    # Several workers poll all along: none starts the task early, nor twice.
    for _ in range(WORKERS):
        workers.start("--concurrency", "2")
    burst = [tasks.debounced_record.enqueue(1, f"call-{n}", str(log)) for n in range(9)]
    before_last_call = timezone.now()
    burst.append(tasks.debounced_record.enqueue(1, "call-9", str(log)))
    row = models.Task.objects.get()

    assert len({result.id for result in burst}) == 1
    assert [result.deduplicated for result in burst] == [False] + [True] * 9
    finished = burst[-1].wait(timeout=60)
    assert finished.return_value == "call-9"
    assert log.read_text().splitlines() == ["1:call-9"]
    row.refresh_from_db()
    assert (row.status, row.attempts) == (Status.SUCCEEDED, 1)
    assert row.started_at >= before_last_call + timedelta(seconds=2)  # quiet for `debounce`

    # Once it has run, the next call starts a new burst, and runs too.
    after = tasks.debounced_record.enqueue(1, "later", str(log))
    assert not after.deduplicated and after.id != finished.id
    after.wait(timeout=60)
    wait_for(lambda: log.read_text().splitlines() == ["1:call-9", "1:later"])
