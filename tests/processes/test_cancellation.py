"""Cancelling queued and running tasks, with real worker processes.

On PostgreSQL a process pool hears a cancel by NOTIFY (through its
supervisor); a thread pool, and every pool on SQLite, by its slots' poll.
Time bounds keep a 2-3x margin over what the code promises (a cancel
reaches the task within 1 s).
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from django.db import connection

from django_taskflow import cancel, cancel_tasks, models
from django_taskflow.states import AttemptOutcome, Status
from tests import tasks
from tests.conftest import WorkerProcesses, wait_for

pytestmark = pytest.mark.processes

# The code promises 1 s from cancel() to the task seeing it.
SEEN_WITHIN = 3.0


def lines(path: Path) -> list[list[str]]:
    return [line.split() for line in path.read_text().splitlines()] if path.exists() else []


def status(result: object) -> str:
    return models.Task.objects.get(pk=result.id).status  # type: ignore[attr-defined,no-any-return]


def workers_count() -> int:
    """Several workers: 4 on PostgreSQL, 2 on SQLite (one writer at a time)."""
    return 4 if connection.vendor == "postgresql" else 2


def test_a_cancelled_queued_task_never_runs_while_several_workers_drain(
    workers: WorkerProcesses, tmp_path: Path
) -> None:
    log = tmp_path / "runs"
    results = [tasks.log_execution.enqueue(str(log), 0.01) for _ in range(200)]
    for _ in range(workers_count()):
        workers.start("--concurrency", "2")
    # Cancel every other task while the workers drain the queue.
    asked = sum(cancel(result.id, by="test") for result in results[::2])
    wait_for(
        lambda: not models.Task.objects.filter(status__in=[Status.QUEUED, Status.RUNNING]).exists(),
        timeout=60,
    )
    started = [line[1] for line in lines(log) if line[0] == "start"]
    assert len(started) == len(set(started))  # nothing ran twice
    never_started = models.Task.objects.filter(status=Status.CANCELLED, attempts=0)
    assert never_started.exists()  # some were still queued when cancelled
    assert not {str(pk) for pk in never_started.values_list("pk", flat=True)} & set(started)
    # Every task not asked ran exactly once and succeeded.
    for result in results[1::2]:
        assert status(result) == Status.SUCCEEDED
    # Each cancel counted was either a queued task cancelled or a running one
    # asked to stop (which may have finished first).
    asked_rows = models.Task.objects.filter(
        pk__in=[r.id for r in results[::2]], cancel_requested_at__isnull=False
    )
    assert asked == asked_rows.count()


@pytest.mark.parametrize("pool", ["process", "thread"])
def test_a_running_task_sees_the_cancel_within_a_second_and_stops_cooperatively(
    workers: WorkerProcesses, tmp_path: Path, pool: str
) -> None:
    log = tmp_path / "steps"
    result = tasks.stops_when_cancelled.enqueue(str(log))
    process = workers.start("--pool", pool, cancel_grace_seconds=30)
    wait_for(lambda: lines(log))
    asked_at = time.time()
    assert cancel(result.id, reason="not needed", by="ops") == 1
    wait_for(lambda: status(result) == Status.CANCELLED, timeout=30)
    seen = [float(line[2]) for line in lines(log) if line[0] == "seen"]
    assert seen and seen[0] - asked_at < SEEN_WITHIN
    assert ["cleanup", result.id] in lines(log)  # its finally block ran
    task = models.Task.objects.get(pk=result.id)
    assert (task.cancelled_by, task.cancel_reason) == ("ops", "not needed")
    [attempt] = task.attempt_set.all()
    assert attempt.outcome == AttemptOutcome.CANCELLED
    assert "cancelled by ops: not needed" in attempt.error_message
    assert tasks.add.enqueue(2, 3).wait(timeout=30).return_value == 5
    assert process.poll() is None


@pytest.mark.parametrize("pool", ["process", "thread"])
def test_a_task_that_ignores_the_cancel_is_stopped_when_the_grace_period_ends(
    workers: WorkerProcesses, tmp_path: Path, pool: str
) -> None:
    log = tmp_path / "started"
    result = tasks.ignores_cancel.enqueue(str(log))
    grace = 2.0
    process = workers.start("--pool", pool, cancel_grace_seconds=grace)
    wait_for(lambda: lines(log))
    asked_at = time.monotonic()
    assert cancel(result.id) == 1
    wait_for(lambda: status(result) != Status.RUNNING, timeout=30)
    waited = time.monotonic() - asked_at
    assert status(result) == Status.CANCELLED
    assert grace <= waited < grace * 3 + 2  # the grace, counted from cancel(), then a stop
    [attempt] = models.Task.objects.get(pk=result.id).attempt_set.all()
    assert attempt.outcome == AttemptOutcome.CANCELLED
    assert tasks.add.enqueue(1, 1).wait(timeout=30).return_value == 2
    assert process.poll() is None


def test_cancels_reach_the_right_tasks_across_several_workers(
    workers: WorkerProcesses, tmp_path: Path
) -> None:
    log = tmp_path / "steps"
    count = workers_count()
    results = [tasks.stops_when_cancelled.enqueue(str(log)) for _ in range(count * 2)]
    for _ in range(count):
        workers.start("--concurrency", "2", cancel_grace_seconds=30)
    wait_for(lambda: len([line for line in lines(log) if line[0] == "start"]) == len(results))
    keep, stop = results[0], results[1:]
    asked_at = time.time()
    assert cancel_tasks(name="stops_when_cancelled", status="running") == len(results)
    # (keep was asked too: cancel_tasks took every running one; check the rest's timing)
    wait_for(lambda: all(status(r) == Status.CANCELLED for r in [keep, *stop]), timeout=30)
    seen = {line[1]: float(line[2]) for line in reversed(lines(log)) if line[0] == "seen"}
    assert set(seen) == {r.id for r in results}
    assert max(seen.values()) - asked_at < SEEN_WITHIN
    assert {line[1] for line in lines(log) if line[0] == "cleanup"} == {r.id for r in results}


def test_tasks_that_ignore_the_cancel_are_stopped_on_every_worker_when_the_grace_ends(
    workers: WorkerProcesses, tmp_path: Path
) -> None:
    log = tmp_path / "started"
    count = workers_count()
    results = [tasks.ignores_cancel.enqueue(str(log)) for _ in range(count * 2)]
    grace = 2.0
    processes = [
        workers.start("--concurrency", "2", cancel_grace_seconds=grace) for _ in range(count)
    ]
    # Two slots a worker: all started at once means each worker runs two,
    # and each must stop its own for real.
    wait_for(lambda: len(lines(log)) == len(results), timeout=60)
    asked_at = time.monotonic()
    assert cancel_tasks(name="ignores_cancel", status="running") == len(results)
    wait_for(lambda: not models.Task.objects.filter(status=Status.RUNNING).exists(), timeout=30)
    waited = time.monotonic() - asked_at
    assert grace <= waited < grace * 3 + 2
    assert {status(result) for result in results} == {Status.CANCELLED}
    assert all(process.poll() is None for process in processes)
    assert tasks.add.enqueue(1, 1).wait(timeout=30).return_value == 2


@pytest.mark.parametrize("pool", ["process", "thread"])
def test_a_task_that_swallows_the_cancel_loses_its_slot(
    workers: WorkerProcesses, tmp_path: Path, pool: str
) -> None:
    log = tmp_path / "started"
    result = tasks.swallows_cancel.enqueue(str(log))
    process = workers.start("--pool", pool, cancel_grace_seconds=1)
    wait_for(lambda: lines(log))
    assert cancel(result.id) == 1
    wait_for(lambda: status(result) == Status.CANCELLED, timeout=30)
    [attempt] = models.Task.objects.get(pk=result.id).attempt_set.all()
    assert attempt.outcome == AttemptOutcome.CANCELLED
    # A fresh slot took over.
    assert tasks.add.enqueue(1, 1).wait(timeout=30).return_value == 2
    assert process.poll() is None


@pytest.mark.skipif("connection.vendor != 'postgresql'")
def test_supervisor_kills_a_cancelled_task_stuck_holding_the_gil(
    workers: WorkerProcesses, tmp_path: Path
) -> None:
    """Nothing in the slot runs while the GIL is held: its supervisor, told by
    NOTIFY, kills it once the grace period (and the slot's own) has passed."""
    log = tmp_path / "started"
    result = tasks.holds_the_gil.enqueue(str(log))
    process = workers.start(cancel_grace_seconds=1, lease_seconds=600)
    wait_for(lambda: lines(log))
    asked_at = time.monotonic()
    assert cancel(result.id) == 1
    wait_for(lambda: status(result) == Status.CANCELLED, timeout=30)
    assert time.monotonic() - asked_at < (1 + 3 + 1) * 3  # grace, slot grace, outside grace
    [attempt] = models.Task.objects.get(pk=result.id).attempt_set.all()
    assert attempt.outcome == AttemptOutcome.CANCELLED
    assert tasks.add.enqueue(1, 1).wait(timeout=30).return_value == 2
    assert process.poll() is None
