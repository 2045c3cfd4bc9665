"""Time limits and live progress, in real worker processes."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest

from django_taskflow import events, models
from django_taskflow.monitor import Queued, Running, Succeeded, monitor
from django_taskflow.states import AttemptOutcome, Status
from tests import tasks
from tests.conftest import WorkerProcesses, wait_for

pytestmark = pytest.mark.processes


def marks(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


def test_monitor_sees_queued_then_running_with_progress_then_succeeded(
    workers: WorkerProcesses,
) -> None:
    result = tasks.progress_steps.enqueue(3, 0.2)
    workers.start()
    states = list(monitor(result.id, timeout=30))
    assert states[0] == Queued()
    assert isinstance(states[-1], Succeeded)
    assert states[-1].output == "done"
    running = [s for s in states if isinstance(s, Running)]
    assert [round(s.progress or 0, 2) for s in running] == [0.0, 0.33, 0.67, 1.0]
    assert [type(s) for s in states] == [Queued, *[Running] * 4, Succeeded]


def test_soft_timeout_fires_once_and_the_task_goes_on(
    workers: WorkerProcesses, tmp_path: Path
) -> None:
    mark = tmp_path / "soft"
    result = tasks.outlives_soft_limit.enqueue(str(mark), 1.0)
    workers.start()
    result.wait(timeout=30)
    assert result.return_value == "finished anyway"
    assert marks(mark) == ["soft 1"]
    soft = list(events.stream(task=result.id, kinds=["soft_timeout"], after=0, follow=False))
    assert len(soft) == 1


@pytest.mark.parametrize("pool", ["process", "thread"])
def test_hard_timeout_stops_a_never_ending_task_and_the_worker_goes_on(
    workers: WorkerProcesses, tmp_path: Path, pool: str
) -> None:
    mark = tmp_path / "started"
    stuck = tasks.never_ends.enqueue(str(mark))
    process = workers.start("--pool", pool)
    started = time.monotonic()
    wait_for(lambda: len(marks(mark)) == 2, timeout=30)  # retried once (max_attempts=2)
    wait_for(lambda: models.Task.objects.get(pk=stuck.id).status == Status.FAILED, timeout=30)
    assert time.monotonic() - started < 15
    outcomes = [a.outcome for a in models.Attempt.objects.filter(task_id=stuck.id)]
    assert outcomes == [AttemptOutcome.TIMED_OUT, AttemptOutcome.TIMED_OUT]
    assert tasks.add.enqueue(2, 3).wait(timeout=30).return_value == 5
    assert process.poll() is None


@pytest.mark.parametrize(
    ("pool", "task"),
    [("process", tasks.ignores_hard_limit), ("thread", tasks.blocks_in_sleep)],
)
def test_task_that_ignores_its_hard_limit_loses_its_slot(
    workers: WorkerProcesses, tmp_path: Path, pool: str, task: object
) -> None:
    mark = tmp_path / "started"
    stuck = task.enqueue(str(mark))  # type: ignore[attr-defined]
    process = workers.start("--pool", pool)
    wait_for(lambda: marks(mark))
    wait_for(lambda: models.Task.objects.get(pk=stuck.id).status == Status.FAILED, timeout=30)
    attempt = models.Attempt.objects.get(task_id=stuck.id)
    assert attempt.outcome == AttemptOutcome.TIMED_OUT
    assert "did not stop" in attempt.error_message
    # A fresh slot took over: new work still runs.
    assert tasks.add.enqueue(1, 1).wait(timeout=30).return_value == 2
    assert process.poll() is None


@pytest.mark.parametrize("pool", ["process", "thread"])
def test_hard_timeout_stops_an_async_task_for_real(
    workers: WorkerProcesses, tmp_path: Path, pool: str
) -> None:
    mark = tmp_path / "started"
    stuck = tasks.async_never_ends.enqueue(str(mark))
    process = workers.start("--pool", pool)
    wait_for(lambda: models.Task.objects.get(pk=stuck.id).status == Status.FAILED, timeout=30)
    assert models.Attempt.objects.get(task_id=stuck.id).outcome == AttemptOutcome.TIMED_OUT
    assert tasks.add.enqueue(2, 2).wait(timeout=30).return_value == 4
    process.send_signal(signal.SIGTERM)  # nothing left running: a prompt, clean exit
    assert process.wait(timeout=15) == 0


def test_async_task_can_heartbeat_extend_its_lease_and_report_progress(
    workers: WorkerProcesses,
) -> None:
    result = tasks.async_heartbeat.enqueue()
    workers.start()
    assert result.wait(timeout=30).return_value == 1
    progress = [
        e.progress for e in events.stream(task=result.id, kinds=["progress"], after=0, follow=False)
    ]
    assert progress == [0.5]
