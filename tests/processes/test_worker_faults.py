"""Worker faults that once lost or wrongly failed work (issue 7), in real processes."""

from __future__ import annotations

import signal
from datetime import timedelta
from pathlib import Path

import pytest
from django.db import connection
from django.utils import timezone

from django_taskflow import models
from django_taskflow.states import AttemptOutcome, Status
from tests import tasks
from tests.conftest import WorkerProcesses, wait_for

pytestmark = pytest.mark.processes


def lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


def attempts(task_id: str) -> list[models.Attempt]:
    return list(models.Attempt.objects.filter(task_id=task_id).order_by("number"))


def status(task_id: str) -> str:
    return models.Task.objects.get(pk=task_id).status


def test_a_hook_slower_than_the_lease_does_not_cost_the_lease(
    workers: WorkerProcesses, tmp_path: Path
) -> None:
    runs = tmp_path / "runs"
    result = tasks.slowed_by_its_start_hook.enqueue(str(runs), 6.0)
    workers.start("--concurrency", "2", lease_seconds=3)
    assert result.wait(timeout=60).return_value == 1
    assert len(lines(runs)) == 1
    assert [a.outcome for a in attempts(result.id)] == [AttemptOutcome.SUCCEEDED]


def test_an_error_text_the_database_refuses_keeps_its_class_and_its_retry(
    workers: WorkerProcesses,
) -> None:
    result = tasks.fails_with_unstorable_text.enqueue()
    process = workers.start()
    wait_for(lambda: status(result.id) == Status.FAILED)
    recorded = attempts(result.id)
    assert [(a.outcome, a.error_class) for a in recorded] == [
        (AttemptOutcome.FAILED, "builtins.ValueError")
    ] * 2
    assert "cannot open" in recorded[0].error_message
    # The same slot goes on recording.
    assert tasks.add.enqueue(1, 2).wait(timeout=30).return_value == 3
    assert "Traceback" not in workers.log(process)


def test_a_lease_extended_inside_a_transaction_is_seen_at_once(
    workers: WorkerProcesses, tmp_path: Path
) -> None:
    extended, release = tmp_path / "extended", tmp_path / "release"
    result = tasks.extends_lease_in_a_transaction.enqueue(str(extended), str(release))
    workers.start()
    wait_for(lambda: status(result.id) == Status.RUNNING)
    wait_for(extended.exists, timeout=5)  # the extension did not wait for the transaction
    if connection.vendor == "postgresql":
        # SQLite has one writer: there the task's open transaction holds the
        # write lock, so the extension is written in it and seen at its commit.
        lease = models.Task.objects.get(pk=result.id).lease_expires_at
        assert lease is not None
        assert lease > timezone.now() + timedelta(seconds=300)
    release.touch()
    assert result.wait(timeout=30).return_value == "released"


def test_a_forced_stop_after_the_body_returned_records_the_outcome(
    workers: WorkerProcesses, tmp_path: Path
) -> None:
    validating = tmp_path / "validating"
    result = tasks.validated_slowly.enqueue(str(validating))
    process = workers.start()
    wait_for(validating.exists)  # the body returned; its validator takes 3 s
    process.send_signal(signal.SIGTERM)
    wait_for(lambda: "claiming no more" in workers.log(process))
    process.send_signal(signal.SIGTERM)  # the second signal: stop now
    process.wait(timeout=30)
    assert status(result.id) == Status.SUCCEEDED
    assert [a.outcome for a in attempts(result.id)] == [AttemptOutcome.SUCCEEDED]


def sleeping_queries() -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE query LIKE 'SELECT pg_sleep(20)%%' AND state = 'active'"
        )
        return int(cursor.fetchone()[0])


@pytest.mark.parametrize("pool", ["process", "thread"])
def test_a_hard_limit_cancels_the_tasks_query_and_the_slot_goes_on(
    workers: WorkerProcesses, tmp_path: Path, pool: str
) -> None:
    if connection.vendor != "postgresql":
        pytest.skip("a query that outlives its task needs a database server")
    sleeping = tmp_path / "sleeping"
    stuck = tasks.sleeps_in_sql.enqueue(str(sleeping))
    process = workers.start("--pool", pool)
    wait_for(sleeping.exists)
    wait_for(lambda: status(stuck.id) == Status.FAILED)
    assert [a.outcome for a in attempts(stuck.id)] == [AttemptOutcome.TIMED_OUT]
    wait_for(lambda: sleeping_queries() == 0, timeout=5)  # not 20 s later
    assert tasks.add.enqueue(2, 2).wait(timeout=10).return_value == 4
    assert process.poll() is None


def test_workers_with_skewed_clocks_neither_steal_nor_lose_work(
    workers: WorkerProcesses, tmp_path: Path
) -> None:
    runs = tmp_path / "runs"
    # Ready for both clocks: the worker 30 s behind claims it too.
    ready = timezone.now() - timedelta(seconds=60)
    results = [
        tasks.mark_then_sleep.using(run_after=ready).enqueue(str(runs), 5.0) for _ in range(2)
    ]
    behind = workers.start(lease_seconds=4, clock_skew_seconds=-30)
    wait_for(lambda: lines(runs))  # it holds a task, under a lease by its own clock
    ahead = workers.start(lease_seconds=4, clock_skew_seconds=30)
    for result in results:
        assert result.wait(timeout=60).return_value == 1
    assert len(lines(runs)) == 2
    recorded = [a for result in results for a in attempts(result.id)]
    assert [a.outcome for a in recorded] == [AttemptOutcome.SUCCEEDED] * 2
    # The skew was real: the workers' own times (not lease times) are off.
    assert all(abs(a.finished_at - timezone.now()) > timedelta(seconds=20) for a in recorded)
    assert ahead.poll() is None and behind.poll() is None
