"""Running tasks: retries, failures, bad results, unknown paths, leases."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.tasks import TaskResultStatus
from django.utils import timezone

from django_taskflow import RetryPolicy, models, recovery, transitions
from django_taskflow.states import AttemptOutcome, Status
from django_taskflow.testing import run_tasks
from tests import tasks
from tests.conftest import claim_for, expire_leases

pytestmark = pytest.mark.django_db


def test_exception_fails_after_one_attempt_by_default() -> None:
    result = tasks.fail_once.enqueue()
    run_tasks()
    result.refresh()
    assert result.status == TaskResultStatus.FAILED
    attempt = models.Attempt.objects.get(task_id=result.id)
    assert attempt.outcome == AttemptOutcome.FAILED
    assert attempt.error_class == "builtins.ValueError"
    assert attempt.error_message == "no retries asked for"
    assert "Traceback" in attempt.traceback and "fail_once" in attempt.traceback


def test_failing_task_is_retried_up_to_max_attempts() -> None:
    result = tasks.fail_always.enqueue("nope")
    for _ in range(5):
        run_tasks()
    result.refresh()
    assert result.status == TaskResultStatus.FAILED
    assert result.attempts == 3
    numbers = list(
        models.Attempt.objects.filter(task_id=result.id).values_list("number", "outcome")
    )
    assert numbers == [(1, "failed"), (2, "failed"), (3, "failed")]
    assert len(result.errors) == 3


def test_task_succeeds_on_a_later_attempt() -> None:
    result = tasks.fail_until_attempt.enqueue(2)
    run_tasks()
    run_tasks()
    result.refresh()
    assert result.status == TaskResultStatus.SUCCESSFUL
    assert result.return_value == 2
    assert [a.outcome for a in models.Attempt.objects.filter(task_id=result.id)] == [
        "failed",
        "succeeded",
    ]


def test_retry_waits_for_the_retry_delay() -> None:
    result = tasks.fail_once.using(max_attempts=2, retry=RetryPolicy.fixed(60)).enqueue()
    before = timezone.now()
    run_tasks()
    row = models.Task.objects.get(pk=result.id)
    assert row.status == Status.QUEUED
    assert row.run_after >= before + timedelta(seconds=60)
    assert run_tasks() == 0


def test_unserialisable_result_fails_with_a_clear_message() -> None:
    result = tasks.returns_set.enqueue()
    run_tasks()
    attempt = models.Attempt.objects.get(task_id=result.id)
    assert attempt.error_class == "django_taskflow.exceptions.UnserializablePayload"
    assert "JSON" in attempt.error_message
    assert models.Task.objects.get(pk=result.id).status == Status.FAILED


def test_result_with_nul_character_fails_and_the_next_task_runs() -> None:
    bad = tasks.returns_nul.enqueue()
    good = tasks.add.enqueue(1, 1)
    run_tasks()
    assert models.Task.objects.get(pk=bad.id).status == Status.FAILED
    assert models.Task.objects.get(pk=good.id).result == 2


def test_unknown_task_path_fails_cleanly_and_the_worker_goes_on() -> None:
    ghost = tasks.add.enqueue(1, 2)
    models.Task.objects.filter(pk=ghost.id).update(task_path="tests.tasks.removed_long_ago")
    good = tasks.add.enqueue(2, 2)
    assert run_tasks() == 2
    row = models.Task.objects.get(pk=ghost.id)
    assert row.status == Status.FAILED
    attempt = row.attempt_set.get()
    assert attempt.error_class == "django_taskflow.exceptions.UnknownTask"
    assert "tests.tasks.removed_long_ago" in attempt.error_message
    assert models.Task.objects.get(pk=good.id).result == 4


def claim_one(worker_id: str, lease_seconds: float = 30) -> models.Task:
    claimed = claim_for(worker_id, lease_seconds=lease_seconds)
    assert len(claimed) == 1
    return models.Task.objects.get(pk=claimed[0].id)


def test_claim_takes_each_task_once() -> None:
    tasks.noop.enqueue_many([()] * 3)
    first = claim_for("a", limit=2)
    second = claim_for("b", limit=5)
    assert len(first) == 2 and len(second) == 1
    assert not {t.id for t in first} & {t.id for t in second}
    assert {t.attempt for t in first + second} == {1}


def test_expired_lease_is_recovered_as_a_lost_attempt() -> None:
    result = tasks.add.using(max_attempts=2, retry=RetryPolicy.fixed(30)).enqueue(1, 2)
    task = claim_one("dead-worker")
    assert task.status == Status.RUNNING
    assert recovery.recover_expired("default", timezone.now()) == 0
    expire_leases("dead-worker")
    later = timezone.now() + timedelta(seconds=2)
    assert recovery.recover_expired("default", later) == 1
    row = models.Task.objects.get(pk=result.id)
    assert row.status == Status.QUEUED and row.worker_id is None
    assert row.run_after == later + timedelta(seconds=30)  # the retry policy's delay
    lost = row.attempt_set.get()
    assert (lost.number, lost.outcome, lost.worker_id) == (1, AttemptOutcome.LOST, "dead-worker")
    event = row.event_set.get()
    assert (event.kind, event.data["outcome"]) == ("retrying", "lost")
    assert event.data["retry_at"] == row.run_after.isoformat()
    models.Task.objects.filter(pk=row.pk).update(run_after=timezone.now())
    run_tasks()
    row.refresh_from_db()
    assert row.status == Status.SUCCEEDED and row.attempts == 2


def test_heartbeat_extends_the_lease() -> None:
    tasks.add.enqueue(1, 2)
    task = claim_one("busy-worker")
    expire_leases("busy-worker")
    assert recovery.extend_leases("default", "busy-worker", 60) == 1
    assert recovery.recover_expired("default", timezone.now()) == 0
    task.refresh_from_db()
    assert task.status == Status.RUNNING
    assert task.lease_expires_at is not None
    assert task.lease_expires_at > timezone.now() + timedelta(seconds=50)


def test_completion_from_a_worker_that_lost_its_lease_is_ignored() -> None:
    from django_taskflow.claim import ClaimedTask
    from django_taskflow.execution import outcome

    tasks.add.using(max_attempts=3).enqueue(1, 2)
    claimed: ClaimedTask = claim_for("slow")[0]
    expire_leases("slow")
    recovery.recover_expired("default", timezone.now())
    now = timezone.now()
    kept, _ = transitions.record_batch(
        "default",
        "slow",
        [
            transitions.Completion(
                task=claimed, outcome=outcome.succeeded("3"), started_at=now, finished_at=now
            )
        ],
    )
    assert kept == []
    row = models.Task.objects.get(pk=claimed.id)
    assert row.status == Status.QUEUED and row.result is None


def test_hand_back_returns_unstarted_tasks_without_counting_them() -> None:
    result = tasks.add.enqueue(1, 2)
    claim_one("stopping-worker")
    assert recovery.hand_back("default", "stopping-worker", [models.Task.objects.get().pk]) == 1
    row = models.Task.objects.get(pk=result.id)
    assert (row.status, row.attempts, row.worker_id) == (Status.QUEUED, 0, None)
    assert not row.attempt_set.exists()
