"""Pruning beside real workers: the queue drains whole, and workers prune by RETENTION."""

from __future__ import annotations

import json
from collections import Counter
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command

from django_taskflow import models
from django_taskflow.states import Status
from tests import tasks
from tests.conftest import WorkerProcesses, wait_for
from tests.finished_rows import make_finished, remaining

pytestmark = pytest.mark.processes


def test_prune_in_chunks_while_a_worker_drains_loses_nothing_of_the_queue(
    workers: WorkerProcesses, tmp_path: Path
) -> None:
    old = make_finished(4000)
    log = tmp_path / "runs.log"
    queued = [r.id for r in tasks.record_run.enqueue_many([(str(log),)] * 600)]
    workers.start("--concurrency", "2")
    wait_for(lambda: log.exists())  # the drain is under way
    out = StringIO()
    call_command(
        "taskflow", "prune", "--older-than", "30d", "--chunk-size", "200", "--json", stdout=out
    )
    assert json.loads(out.getvalue())["deleted"]["succeeded"] == 4000
    assert remaining(old) == (0, 0, 0)
    wait_for(
        lambda: models.Task.objects.filter(pk__in=queued, status=Status.SUCCEEDED).count() == 600,
        timeout=90,
    )
    runs = Counter(line.split()[0] for line in log.read_text().splitlines())
    assert set(runs) == set(queued)
    assert max(runs.values()) == 1
    assert models.Attempt.objects.filter(task_id__in=queued).count() == 600


def test_workers_prune_by_retention_one_at_a_time(
    workers: WorkerProcesses, monkeypatch: pytest.MonkeyPatch
) -> None:
    old_ok = make_finished(1200)
    old_failed = make_finished(30, status="failed")
    monkeypatch.setenv("TASKFLOW_RETENTION", json.dumps({"succeeded": "7d", "failed": "90d"}))
    first = workers.start()
    second = workers.start()
    wait_for(lambda: remaining(old_ok) == (0, 0, 0), timeout=60)
    assert remaining(old_failed) == (30, 30, 60)
    fresh = tasks.add.enqueue(1, 2)
    assert fresh.wait(timeout=30).return_value == 3  # workers run tasks all along
    turn = wait_for(lambda: models.PruneTurn.objects.filter(last_deleted=1200).first())
    pruned_in = [
        process.pid
        for process in (first, second)
        if "pruned 1200 finished tasks past their retention" in workers.log(process)
    ]
    assert pruned_in == [int(turn.holder.split(":")[1])]
