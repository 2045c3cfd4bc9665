"""Weighted queues, queue limits, pauses and capabilities across real workers.

PostgreSQL runs 4 worker processes, SQLite 2: every guarantee here must
hold across processes that share only the database.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from django.db import connection
from django.db.models import Count
from django.tasks import TaskResultStatus

from django_taskflow import Queue, models, pause_queue, resume_queue, set_queue_limit
from django_taskflow.states import Status
from tests import tasks
from tests.conftest import WorkerProcesses, wait_for

pytestmark = pytest.mark.processes

WORKERS = 4 if connection.vendor == "postgresql" else 2
WEIGHTS = {Queue.CRITICAL: 100, Queue.HIGH: 10, Queue.DEFAULT: 1, Queue.LOW: 0.1}


def most_at_once(log: Path) -> int:
    """The most tasks running at one instant, from their logged starts and ends."""
    moments = []
    for line in log.read_text().splitlines() if log.exists() else []:
        kind, instant = line.split()
        # At equal instants an end comes first: a slot freed and reused is not two.
        moments.append((float(instant), 0 if kind == "end" else 1))
    running = peak = 0
    for _instant, is_start in sorted(moments):
        running += 1 if is_start else -1
        peak = max(peak, running)
    return peak


def statuses_of(ids: list[str]) -> set[str]:
    return set(models.Task.objects.filter(pk__in=ids).values_list("status", flat=True))


def test_a_saturated_backlog_is_shared_by_the_queue_weights(workers: WorkerProcesses) -> None:
    backlog = {Queue.CRITICAL: 24_000, Queue.HIGH: 3_000, Queue.DEFAULT: 600, Queue.LOW: 100}
    for queue, count in backlog.items():
        tasks.noop.using(queue_name=queue).enqueue_many([()] * count)
    for _ in range(WORKERS):
        workers.start("--queues", "critical,high,default,low")
    wanted = 8_000
    wait_for(
        lambda: models.Task.objects.exclude(status=Status.QUEUED).count() >= wanted, timeout=120
    )
    # One statement: a consistent snapshot of what has been claimed so far.
    counts = dict(
        models.Task.objects.exclude(status=Status.QUEUED)
        .values_list("queue_name")
        .annotate(n=Count("id"))
        .values_list("queue_name", "n")
    )
    claimed = {queue: counts.get(queue, 0) for queue in backlog}
    # Every queue still had work: the backlog was saturated throughout.
    assert all(claimed[queue] < backlog[queue] for queue in backlog), claimed
    total = sum(claimed.values())
    weight_sum = sum(WEIGHTS.values())
    for queue in (Queue.CRITICAL, Queue.HIGH, Queue.DEFAULT):
        share = claimed[queue] / total
        expected = WEIGHTS[queue] / weight_sum
        assert abs(share / expected - 1) <= 0.2, (queue, share, expected, claimed)
    assert 0 < claimed[Queue.LOW] < claimed[Queue.DEFAULT], claimed


def test_a_queue_limit_holds_across_workers_and_changes_without_a_restart(
    workers: WorkerProcesses, tmp_path: Path
) -> None:
    log = tmp_path / "runs.log"
    set_queue_limit("emails", 2)
    results = tasks.timed_run.using(queue_name="emails").enqueue_many([(str(log), 0.4)] * 16)
    for _ in range(WORKERS):
        workers.start("--queues", "emails", "--concurrency", "2")
    ids = [r.id for r in results]
    wait_for(lambda: log.exists() and log.read_text().count("end") >= 6, timeout=60)
    assert most_at_once(log) == 2  # never more, and the limit was used
    # Raised at run time: the same workers start a third task at once.
    set_queue_limit("emails", 3)
    wait_for(lambda: statuses_of(ids) == {Status.SUCCEEDED}, timeout=60)
    assert most_at_once(log) == 3


def test_a_pause_holds_across_workers_and_restarts_and_resume_releases_it(
    workers: WorkerProcesses, tmp_path: Path
) -> None:
    log = tmp_path / "runs.log"
    running = tasks.timed_run.using(queue_name="emails").enqueue(str(log), 1.5)
    first = [workers.start("--queues", "default,emails") for _ in range(WORKERS)]
    wait_for(lambda: log.exists() and "start" in log.read_text())
    pause_queue("emails")
    held = tasks.timed_run.using(queue_name="emails").enqueue_many([(str(log), 0)] * 5)
    # The running task finishes; the default queue is still served.
    assert running.wait(timeout=30).status == TaskResultStatus.SUCCESSFUL
    assert tasks.add.enqueue(1, 2).wait(timeout=30).return_value == 3
    time.sleep(2)  # well past the second within which a pause holds
    assert statuses_of([r.id for r in held]) == {Status.QUEUED}
    # Workers started after the pause obey it too.
    for process in first:
        process.terminate()
        process.wait(timeout=30)
    later = workers.start("--queues", "default,emails")
    assert tasks.add.enqueue(2, 2).wait(timeout=30).return_value == 4
    time.sleep(1.5)
    assert statuses_of([r.id for r in held]) == {Status.QUEUED}
    assert "paused:      emails" in workers.log(later)
    resume_queue("emails")
    for result in held:
        assert result.wait(timeout=30).status == TaskResultStatus.SUCCESSFUL


def test_a_task_requiring_a_capability_waits_for_a_capable_worker(
    workers: WorkerProcesses,
) -> None:
    needs = tasks.needs_gpu.enqueue()
    for _ in range(WORKERS - 1):
        workers.start("--name", "plain")
    # The plain workers run other work, never the task that needs a GPU.
    assert tasks.add.enqueue(1, 1).wait(timeout=30).return_value == 2
    time.sleep(1.5)
    assert statuses_of([needs.id]) == {Status.QUEUED}
    workers.start("--name", "gpu-box", "--capabilities", "gpu,eu-west")
    assert needs.wait(timeout=30).status == TaskResultStatus.SUCCESSFUL
    assert needs.return_value.startswith("gpu-box:")
