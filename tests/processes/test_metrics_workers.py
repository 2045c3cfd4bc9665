"""Metrics with real workers: two worker processes add to the same counters."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.db.models import Count, Q

from django_taskflow import models, worker_status
from django_taskflow.states import AttemptOutcome, Status
from tests import tasks
from tests.conftest import WorkerProcesses, wait_for
from tests.scrape import Samples, scrape

pytestmark = pytest.mark.processes


def recorded(task_path: str) -> dict[str, int]:
    """What the history says of ``task_path``'s attempts, in the counters' terms."""
    finished = models.Task.objects.filter(task_path=task_path).aggregate(
        succeeded=Count("pk", filter=Q(status=Status.SUCCEEDED)),
        failed=Count("pk", filter=Q(status=Status.FAILED)),
    )
    attempts = models.Attempt.objects.filter(task__task_path=task_path).aggregate(
        all=Count("pk"),
        timed_out=Count("pk", filter=Q(outcome=AttemptOutcome.TIMED_OUT)),
        timed=Count("pk", filter=Q(started_at__isnull=False)),
    )
    return {
        "successes": finished["succeeded"],
        "failures": finished["failed"],
        # Every attempt but a finished task's last one sent it back to the queue.
        "retries": attempts["all"] - finished["succeeded"] - finished["failed"],
        "timeouts": attempts["timed_out"],
        "timed": attempts["timed"],
    }


def counted(samples: Samples, task_path: str) -> dict[str, int]:
    labels = frozenset({("task", task_path)})
    return {
        **{
            kind: int(samples[f"taskflow_task_{kind}_total", labels])
            for kind in ("successes", "failures", "retries", "timeouts")
        },
        "timed": int(samples["taskflow_attempt_duration_seconds_count", labels]),
    }


def test_two_workers_counters_equal_the_recorded_outcomes(
    workers: WorkerProcesses, tmp_path: Path
) -> None:
    ids = [r.id for r in tasks.add.enqueue_many([(i, i) for i in range(200)])]
    ids += [r.id for r in tasks.fail_always.enqueue_many([()] * 15)]  # 2 retries, then failed
    ids += [r.id for r in tasks.fail_until_attempt.enqueue_many([(2,)] * 15)]  # 1 retry
    ids.append(tasks.never_ends.enqueue(str(tmp_path / "mark")).id)  # 2 timeouts of 1 s
    workers.start("--concurrency", "2")
    workers.start("--concurrency", "2")
    wait_for(
        lambda: (
            models.Task.objects.filter(pk__in=ids, status__in=["succeeded", "failed"]).count()
            == len(ids)
        ),
        timeout=90,
    )

    samples = scrape()

    expected = {
        "tests.tasks.add": {"successes": 200, "failures": 0, "retries": 0, "timeouts": 0},
        "tests.tasks.fail_always": {"successes": 0, "failures": 15, "retries": 30, "timeouts": 0},
        "tests.tasks.fail_until_attempt": {
            "successes": 15,
            "failures": 0,
            "retries": 15,
            "timeouts": 0,
        },
        "tests.tasks.never_ends": {"successes": 0, "failures": 1, "retries": 1, "timeouts": 2},
    }
    for task_path, outcomes in expected.items():
        assert counted(samples, task_path) == recorded(task_path), task_path
        assert {k: v for k, v in counted(samples, task_path).items() if k != "timed"} == outcomes
    assert counted(samples, "tests.tasks.add")["timed"] == 200
    slots = set(models.Attempt.objects.values_list("worker_id", flat=True))
    supervisors = {worker_status.worker_for(slot) for slot in slots}
    assert len(supervisors - {None}) == 2, "both workers recorded attempts"
