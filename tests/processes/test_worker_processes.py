"""Real ``manage.py taskworker`` processes: run, share, die, stop, reconnect."""

from __future__ import annotations

import os
import signal
from collections import Counter
from pathlib import Path

import pytest
from django.db import connection

from django_taskflow import models
from django_taskflow.states import AttemptOutcome, Status
from tests import tasks
from tests.conftest import WorkerProcesses, wait_for

pytestmark = pytest.mark.processes


def statuses(*ids: str) -> list[str]:
    return [models.Task.objects.get(pk=task_id).status for task_id in ids]


def all_finished(ids: list[str]) -> bool:
    return models.Task.objects.filter(
        pk__in=ids, status__in=[Status.SUCCEEDED, Status.FAILED]
    ).count() == len(ids)


def started_marks(mark: Path) -> list[str]:
    return mark.read_text().splitlines() if mark.exists() else []


@pytest.mark.parametrize("pool", ["process", "thread"])
def test_worker_runs_tasks_and_records_results(workers: WorkerProcesses, pool: str) -> None:
    workers.start("--concurrency", "2", "--pool", pool)
    results = [tasks.add.enqueue(i, i) for i in range(10)]
    failing = tasks.fail_once.enqueue()
    for i, result in enumerate(results):
        assert result.wait(timeout=30).return_value == 2 * i
    failing.wait(timeout=30)
    assert failing.errors[0].exception_class is ValueError


def test_burst_drains_ready_work_and_exits(workers: WorkerProcesses) -> None:
    results = tasks.add.enqueue_many([(i, 1) for i in range(50)])
    process = workers.start("--burst", "--concurrency", "2")
    assert process.wait(timeout=60) == 0
    assert statuses(*(r.id for r in results)) == [Status.SUCCEEDED] * 50


def test_two_workers_share_a_queue_without_running_a_task_twice(
    workers: WorkerProcesses, tmp_path: Path
) -> None:
    log = tmp_path / "runs.log"
    results = tasks.record_run.enqueue_many([(str(log),)] * 300)
    workers.start("--concurrency", "2")
    workers.start("--concurrency", "2")
    ids = [r.id for r in results]
    wait_for(lambda: all_finished(ids), timeout=60)
    runs = Counter(line.split()[0] for line in log.read_text().splitlines())
    assert set(runs) == set(ids)
    assert max(runs.values()) == 1
    assert models.Attempt.objects.filter(task_id__in=ids).count() == 300
    workers_used = set(models.Attempt.objects.values_list("worker_id", flat=True))
    assert len(workers_used) >= 2


def test_killed_worker_task_is_recovered_by_another_after_its_lease(
    workers: WorkerProcesses, tmp_path: Path
) -> None:
    mark = tmp_path / "started"
    result = tasks.mark_then_sleep.enqueue(str(mark), 1.0)
    doomed = workers.start(lease_seconds=2)
    wait_for(lambda: started_marks(mark))
    os.killpg(doomed.pid, signal.SIGKILL)  # the supervisor and its child, no goodbye
    doomed.wait(timeout=10)
    assert statuses(result.id) == [Status.RUNNING]
    workers.start(lease_seconds=2)
    result.wait(timeout=30)
    assert result.return_value == 2
    outcomes = list(
        models.Attempt.objects.filter(task_id=result.id).values_list("number", "outcome")
    )
    assert outcomes == [(1, AttemptOutcome.LOST), (2, AttemptOutcome.SUCCEEDED)]


def test_killed_slot_process_is_replaced_and_its_task_recovered_at_once(
    workers: WorkerProcesses, tmp_path: Path
) -> None:
    mark = tmp_path / "started"
    result = tasks.mark_then_sleep.enqueue(str(mark), 0.5)
    # A long lease: recovery must come from the supervisor, not from expiry.
    process = workers.start(lease_seconds=600)
    marks = wait_for(lambda: started_marks(mark))
    child_pid = int(marks[0].split()[1])
    os.kill(child_pid, signal.SIGKILL)
    result.wait(timeout=30)
    assert result.return_value == 2
    assert [a.outcome for a in models.Attempt.objects.filter(task_id=result.id)] == [
        AttemptOutcome.LOST,
        AttemptOutcome.SUCCEEDED,
    ]
    assert process.poll() is None  # the worker itself carries on
    assert tasks.add.enqueue(1, 1).wait(timeout=30).return_value == 2


def test_sigterm_lets_the_running_task_finish(workers: WorkerProcesses, tmp_path: Path) -> None:
    mark = tmp_path / "started"
    result = tasks.mark_then_sleep.enqueue(str(mark), 1.5)
    process = workers.start()
    wait_for(lambda: started_marks(mark))
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=30) == 0
    result.refresh()
    assert result.return_value == 1
    assert models.Attempt.objects.get(task_id=result.id).outcome == AttemptOutcome.SUCCEEDED


@pytest.mark.parametrize("pool", ["process", "thread"])
def test_sigterm_hands_back_a_task_that_outlives_the_grace_period(
    workers: WorkerProcesses, tmp_path: Path, pool: str
) -> None:
    mark = tmp_path / "started"
    result = tasks.mark_then_sleep.enqueue(str(mark), 60)
    process = workers.start("--pool", pool, grace_seconds=1)
    wait_for(lambda: started_marks(mark))
    waiting = tasks.add.enqueue(1, 2)
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=30) == 1  # a forced stop is not a clean exit
    row = models.Task.objects.get(pk=result.id)
    assert row.status == Status.QUEUED
    assert row.worker_id is None
    assert [a.outcome for a in row.attempt_set.all()] == [AttemptOutcome.INTERRUPTED]
    assert statuses(waiting.id) == [Status.QUEUED]  # never claimed once stopping


def test_second_signal_stops_at_once_and_hands_the_task_back(
    workers: WorkerProcesses, tmp_path: Path
) -> None:
    mark = tmp_path / "started"
    result = tasks.mark_then_sleep.enqueue(str(mark), 60)
    process = workers.start()
    wait_for(lambda: started_marks(mark))
    process.send_signal(signal.SIGINT)
    wait_for(lambda: "finishing running tasks" in workers.log(process))
    process.send_signal(signal.SIGINT)
    process.wait(timeout=15)
    row = models.Task.objects.get(pk=result.id)
    assert row.status == Status.QUEUED
    assert [a.outcome for a in row.attempt_set.all()] == [AttemptOutcome.INTERRUPTED]


def test_worker_reconnects_after_its_connections_are_killed(workers: WorkerProcesses) -> None:
    if connection.vendor != "postgresql":
        pytest.skip("terminating server connections needs PostgreSQL")
    process = workers.start("--concurrency", "2")
    assert tasks.add.enqueue(1, 1).wait(timeout=30).return_value == 2
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
    results = [tasks.add.enqueue(i, 1) for i in range(5)]
    for i, result in enumerate(results):
        assert result.wait(timeout=30).return_value == i + 1
    assert process.poll() is None


def test_burst_runs_immediate_retries_before_exiting(workers: WorkerProcesses) -> None:
    result = tasks.fail_until_attempt.enqueue(3)
    process = workers.start("--burst")
    assert process.wait(timeout=60) == 0
    result.refresh()
    assert result.return_value == 3
    assert result.attempts == 3


def test_sigterm_to_the_whole_process_group_still_drains_gracefully(
    workers: WorkerProcesses, tmp_path: Path
) -> None:
    mark = tmp_path / "started"
    result = tasks.mark_then_sleep.enqueue(str(mark), 1.5)
    process = workers.start("--concurrency", "2")
    wait_for(lambda: started_marks(mark))
    os.killpg(process.pid, signal.SIGTERM)  # as systemd and Ctrl-C do
    assert process.wait(timeout=30) == 0
    result.refresh()
    assert result.return_value == 1
    assert "stopping now" not in workers.log(process)


def test_slots_finish_their_task_and_stop_when_the_supervisor_dies(
    workers: WorkerProcesses, tmp_path: Path
) -> None:
    mark = tmp_path / "started"
    result = tasks.mark_then_sleep.enqueue(str(mark), 1.0)
    process = workers.start()
    marks = wait_for(lambda: started_marks(mark))
    child_pid = int(marks[0].split()[1])
    os.kill(process.pid, signal.SIGKILL)  # the supervisor only
    process.wait(timeout=10)
    result.wait(timeout=30)
    assert result.return_value == 1

    def child_gone() -> bool:
        try:
            os.kill(child_pid, 0)
        except ProcessLookupError:
            return True
        # A zombie is gone too: it has exited and waits to be reaped by init.
        return Path(f"/proc/{child_pid}/stat").read_text().split()[2] == "Z"

    wait_for(child_gone, timeout=30)


def test_worker_refuses_to_start_without_migrations(tmp_path: Path) -> None:
    import subprocess
    import sys

    from tests.conftest import ROOT

    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'empty.sqlite3'}",
        "TASKFLOW_VAR_DIR": str(tmp_path),
    }
    finished = subprocess.run(
        [sys.executable, "manage.py", "taskworker", "--burst"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert finished.returncode == 1
    assert "manage.py migrate" in finished.stderr
