"""Flows across real worker processes: data passing, racing group members,
a killed worker, a batch of 1,000, cancel midway.

PostgreSQL runs 4 workers, SQLite 2: advancement must hold across processes
that share only the database.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest
from django.db import connection

from django_taskflow import BatchProgress, batch, chain, chord, models
from tests import flow_tasks as ft
from tests.conftest import WorkerProcesses, wait_for

pytestmark = pytest.mark.processes

WORKERS = 4 if connection.vendor == "postgresql" else 2


def lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


def test_data_flows_through_a_three_step_chain(workers: WorkerProcesses) -> None:
    run = chain(ft.start.s(4), ft.add_one.s(), ft.times.s(3)).enqueue()
    workers.start("--concurrency", "2")

    run.wait(timeout=60)

    assert run.status == "succeeded"
    assert run.results() == [4, 5, 15]


def test_a_chord_of_20_calls_back_once_with_ordered_results(
    workers: WorkerProcesses, tmp_path: Path
) -> None:
    log = tmp_path / "callback"
    run = chord([ft.start.s(n) for n in range(20)], callback=ft.log_call.s(str(log))).enqueue()
    for _ in range(WORKERS):
        workers.start("--concurrency", "2")

    run.wait(timeout=90)

    assert run.status == "succeeded"
    assert len(lines(log)) == 1
    assert lines(log)[0].endswith(repr(list(range(20))))
    assert models.Task.objects.filter(flow_id=run.id, flow_position=20).count() == 1


def test_a_flow_survives_a_killed_worker_and_a_retried_step(
    workers: WorkerProcesses, tmp_path: Path
) -> None:
    mark = tmp_path / "stalled"
    run = chain(
        ft.start.s(3),
        ft.stall_first_attempt.s(str(mark)),
        ft.fail_first_attempt.s(),
        ft.add_one.s(),
    ).enqueue()
    doomed = workers.start("--concurrency", "1", lease_seconds=2)
    wait_for(lambda: lines(mark), timeout=60)
    os.killpg(doomed.pid, signal.SIGKILL)
    doomed.wait(timeout=10)

    workers.start("--concurrency", "1", lease_seconds=2)
    run.wait(timeout=90)

    assert run.status == "succeeded"
    assert run.result == 7
    stalled = models.Task.objects.get(flow_id=run.id, flow_position=1)
    retried = models.Task.objects.get(flow_id=run.id, flow_position=2)
    assert (stalled.attempts, retried.attempts) == (2, 2)


def test_a_batch_of_1000_with_failures_counts_exactly_and_calls_back_once(
    workers: WorkerProcesses, tmp_path: Path
) -> None:
    logs = {name: tmp_path / name for name in ("complete", "failure", "finally")}
    run = batch(
        ft.item,
        [{"number": n} for n in range(1000)],
        on_complete=ft.log_call.s(str(logs["complete"])),
        on_failure=ft.log_call.s(str(logs["failure"])),
        finally_=ft.log_call.s(str(logs["finally"])),
    )
    for _ in range(WORKERS):
        workers.start("--concurrency", "2")

    run.wait(timeout=240)

    assert run.status == "failed"
    assert run.progress == BatchProgress(done=900, failed=100, total=1000)
    outcomes = run.results()
    assert outcomes[3] == {"status": "succeeded", "result": 6}
    assert outcomes[7]["status"] == "failed"
    assert "item 7 fails" in outcomes[7]["error"]
    assert [len(lines(logs[name])) for name in ("complete", "failure", "finally")] == [0, 1, 1]


def test_cancel_a_flow_midway(workers: WorkerProcesses, tmp_path: Path) -> None:
    mark = tmp_path / "started"
    run = chain(ft.start.s(1), ft.sleep_cancellable.s(60, str(mark)), ft.add_one.s()).enqueue()
    workers.start("--concurrency", "1", cancel_grace_seconds=2)
    wait_for(lambda: lines(mark), timeout=60)

    assert run.cancel(reason="midway") is True

    sleeping = models.Task.objects.get(flow_id=run.id, flow_position=1)
    wait_for(lambda: models.Task.objects.get(pk=sleeping.pk).status == "cancelled", timeout=30)
    run.refresh()
    assert run.status == "cancelled"
    assert [step.state for step in run.steps] == ["succeeded", "cancelled", "never_run"]
    assert not models.Task.objects.filter(flow_id=run.id, flow_position=2).exists()


def test_a_flow_whose_step_task_was_deleted_fails_instead_of_stalling(
    workers: WorkerProcesses, tmp_path: Path
) -> None:
    log = tmp_path / "on_error"
    run = chain(ft.start.s(1), ft.add_one.s(), on_error=ft.log_call.s(str(log))).enqueue()
    # Deleted before any worker saw it (purged, or deleted by hand).
    models.Task.objects.filter(flow_id=run.id).delete()
    workers.start("--concurrency", "1", lease_seconds=1)

    run.wait(timeout=60)

    assert run.status == "failed"
    assert "was deleted before the flow took in its outcome" in run.error
    assert [step.state for step in run.steps] == ["failed", "never_run", "succeeded"]
    assert len(lines(log)) == 1
