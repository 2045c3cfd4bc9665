"""Real workers keep their WorkerProcess row, and replace slots that pass their limits."""

from __future__ import annotations

import os
import signal
import subprocess
from collections import Counter
from pathlib import Path

import pytest

from django_taskflow import models, worker_status
from django_taskflow.states import Status
from tests import recycling_tasks, tasks
from tests.conftest import WorkerProcesses, wait_for
from tests.process_tree import descendants

pytestmark = pytest.mark.processes

# lease_seconds=3: a heartbeat a second, so a killed worker reads as gone 3 s later.
LEASE = 3


def row_of(process: subprocess.Popen[str]) -> models.WorkerProcess | None:
    return models.WorkerProcess.objects.filter(pid=process.pid).first()


def runs(log: Path) -> list[list[str]]:
    """One ``[task id, attempt, pid, worker id]`` per run."""
    return [line.split() for line in log.read_text().splitlines()] if log.exists() else []


def all_succeeded(ids: list[str]) -> bool:
    return models.Task.objects.filter(pk__in=ids, status=Status.SUCCEEDED).count() == len(ids)


def test_a_worker_row_shows_its_slots_and_running_task_and_goes_away_on_a_clean_stop(
    workers: WorkerProcesses, tmp_path: Path
) -> None:
    mark = tmp_path / "started"
    process = workers.start(
        "--concurrency", "2", "--queues", "default,emails", "--capabilities", "gpu,eu",
        "--name", "ops", lease_seconds=LEASE,
    )  # fmt: skip
    result = tasks.mark_then_sleep.enqueue(str(mark), 3.0)
    wait_for(
        lambda: (row := row_of(process)) is not None and str(result.id) in row.running_task_ids,
        timeout=20,
    )

    row = row_of(process)
    assert row is not None and row.is_alive
    assert (row.worker_id, row.name, row.pool, row.concurrency) == (
        f"ops:{process.pid}",
        "ops",
        "process",
        2,
    )
    assert row.queues == ["default", "emails"]
    assert row.capabilities == ["eu", "gpu"]
    slot_pids = set(row.slots.values_list("pid", flat=True))
    assert len(slot_pids) == 2 and slot_pids <= descendants(process.pid)
    ran_in = int(mark.read_text().split()[1])
    assert ran_in in slot_pids
    # The id written on the task row leads back to this worker, and it is alive.
    held_by = models.Task.objects.get(pk=result.id).worker_id
    assert held_by == f"ops:{ran_in}"
    assert worker_status.worker_for(held_by) == row
    assert worker_status.is_alive(held_by)

    os.kill(process.pid, signal.SIGTERM)
    assert process.wait(timeout=30) == 0
    assert models.Task.objects.get(pk=result.id).status == Status.SUCCEEDED
    assert row_of(process) is None
    assert not models.WorkerSlot.objects.filter(pid__in=slot_pids).exists()
    assert not worker_status.is_alive(held_by)


@pytest.mark.parametrize("pool", ["process", "thread"])
def test_a_killed_worker_reads_as_gone_once_its_heartbeat_lapses(
    workers: WorkerProcesses, pool: str
) -> None:
    process = workers.start("--pool", pool, lease_seconds=LEASE)
    wait_for(lambda: row_of(process) is not None and row_of(process).slots.exists(), timeout=20)  # type: ignore[union-attr]
    row = row_of(process)
    assert row is not None
    slot_id = row.slots.get().worker_id
    assert worker_status.is_alive(slot_id)

    os.killpg(process.pid, signal.SIGKILL)  # the supervisor and its slots, no goodbye
    process.wait(timeout=10)
    # Gone three heartbeats (3 s) after the last one; 15 s leaves a wide margin.
    wait_for(lambda: not worker_status.is_alive(slot_id), timeout=15)
    assert [w.worker_id for w in worker_status.gone_workers()] == [row.worker_id]
    assert worker_status.worker_for(slot_id) == row  # kept, marked gone
    assert row.worker_id not in {w.worker_id for w in worker_status.workers_alive()}


def test_a_slot_is_replaced_after_its_task_limit_without_losing_or_charging_a_task(
    workers: WorkerProcesses, tmp_path: Path
) -> None:
    log = tmp_path / "runs.log"
    results = recycling_tasks.report_slot.enqueue_many([(str(log),)] * 10)
    ids = [r.id for r in results]
    process = workers.start("--max-tasks-per-slot", "3", lease_seconds=LEASE)
    wait_for(lambda: all_succeeded(ids), timeout=90)

    lines = runs(log)
    assert sorted(line[0] for line in lines) == sorted(ids)  # each ran once
    assert {line[1] for line in lines} == {"1"}
    per_pid = Counter(line[2] for line in lines)
    assert len(per_pid) == 4 and max(per_pid.values()) == 3  # 3 + 3 + 3 + 1
    # What a slot had prefetched went back uncharged: one attempt per task.
    assert (
        sorted(models.Task.objects.filter(pk__in=ids).values_list("attempts", flat=True))
        == [1] * 10
    )
    assert models.Attempt.objects.filter(task_id__in=ids).count() == 10
    # The row follows the replacements: its slot is the one that ran the last task.
    last_pid = int(lines[-1][2])
    wait_for(lambda: row_of(process).slots.get().pid == last_pid, timeout=10)  # type: ignore[union-attr]
    assert "makes way for a fresh one" in workers.log(process)
    assert "died" not in workers.log(process)


def test_a_thread_slot_is_replaced_after_its_task_limit(
    workers: WorkerProcesses, tmp_path: Path
) -> None:
    log = tmp_path / "runs.log"
    results = recycling_tasks.report_slot.enqueue_many([(str(log),)] * 6)
    ids = [r.id for r in results]
    workers.start("--pool", "thread", "--max-tasks-per-slot", "2", lease_seconds=LEASE)
    wait_for(lambda: all_succeeded(ids), timeout=60)

    lines = runs(log)
    assert sorted(line[0] for line in lines) == sorted(ids)
    per_worker_id = Counter(line[3] for line in lines)
    assert len(per_worker_id) == 3 and set(per_worker_id.values()) == {2}
    assert len({line[2] for line in lines}) == 1  # one process: threads are replaced
    assert (
        sorted(models.Task.objects.filter(pk__in=ids).values_list("attempts", flat=True)) == [1] * 6
    )


def test_a_slot_is_replaced_once_its_memory_passes_the_limit(
    workers: WorkerProcesses, tmp_path: Path
) -> None:
    log = tmp_path / "runs.log"
    # A slot of this test project uses well under 150 MB; each leak keeps 200 MB.
    process = workers.start("--max-memory-per-slot", "150", lease_seconds=LEASE)
    small = recycling_tasks.report_slot.enqueue_many([(str(log),)] * 3)
    wait_for(lambda: all_succeeded([r.id for r in small]), timeout=30)
    assert len({line[2] for line in runs(log)}) == 1  # under the limit: the same slot

    leaks = recycling_tasks.leak.enqueue_many([(200, str(log))] * 2)
    wait_for(lambda: all_succeeded([r.id for r in leaks]), timeout=60)
    pids = [line[2] for line in runs(log)]
    # The first leak ran in the old slot, which then made way; the second in a new one.
    assert len(set(pids)) == 2
    assert pids[3] == pids[0] and pids[4] not in pids[:4]
    assert "--max-memory-per-slot 150" in workers.log(process)
    assert models.Attempt.objects.count() == 5
