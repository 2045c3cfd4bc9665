"""What a crash costs: lost attempts, on_lost, MAX_LOST_ATTEMPTS, unstarted tasks."""

from __future__ import annotations

from typing import Any

import pytest
from django.utils import timezone

from django_taskflow import RetryPolicy, models, recovery
from django_taskflow.states import AttemptOutcome, Status
from django_taskflow.testing import run_tasks
from tests import tasks
from tests.conftest import claim_for, expire_leases

pytestmark = pytest.mark.django_db

BACKEND = "django_taskflow.backend.TaskflowBackend"


def lose(worker_id: str = "dead-worker") -> None:
    """Claim the ready task and lose it the way a dead host does: its lease expires."""
    assert len(claim_for(worker_id)) == 1
    expire_leases(worker_id)
    assert recovery.recover_expired("default", timezone.now()) == 1


def make_ready(task_id: str) -> None:
    models.Task.objects.filter(pk=task_id).update(run_after=timezone.now())


def test_lost_attempt_does_not_use_up_max_attempts() -> None:
    result = tasks.add.using(retry=RetryPolicy.fixed(0)).enqueue(1, 2)  # max_attempts 1

    lose()
    row = models.Task.objects.get(pk=result.id)
    assert row.status == Status.QUEUED
    assert (row.attempts, row.lost_attempts, row.counted_attempts) == (1, 1, 0)

    make_ready(result.id)
    run_tasks()
    row.refresh_from_db()
    assert row.status == Status.SUCCEEDED and row.attempts == 2


def test_task_that_keeps_getting_lost_fails_after_max_lost_attempts() -> None:
    result = tasks.add.using(max_attempts=10, retry=RetryPolicy.fixed(0)).enqueue(1, 2)

    for _ in range(3):
        lose()
        make_ready(result.id)

    row = models.Task.objects.get(pk=result.id)
    assert row.status == Status.FAILED and row.lost_attempts == 3
    last = row.attempt_set.order_by("number").last()
    assert last is not None
    assert last.error_class == "django_taskflow.exceptions.WorkerLost"
    assert "MAX_LOST_ATTEMPTS" in last.error_message


def test_max_lost_attempts_is_read_from_the_task_backends_options(settings: Any) -> None:
    settings.TASKS = {"default": {"BACKEND": BACKEND, "OPTIONS": {"MAX_LOST_ATTEMPTS": 1}}}
    result = tasks.add.using(retry=RetryPolicy.fixed(0)).enqueue(1, 2)

    lose()

    assert models.Task.objects.get(pk=result.id).status == Status.FAILED


def test_on_lost_fail_fails_at_once_with_worker_lost() -> None:
    result = tasks.add.using(on_lost="fail", max_attempts=5).enqueue(1, 2)

    lose()

    row = models.Task.objects.get(pk=result.id)
    assert row.status == Status.FAILED and row.finished_at is not None
    attempt = row.attempt_set.get()
    assert attempt.outcome == AttemptOutcome.LOST
    assert attempt.error_class == "django_taskflow.exceptions.WorkerLost"
    assert "on_lost='fail'" in attempt.error_message
    run_tasks()
    assert models.Task.objects.get(pk=result.id).attempts == 1  # never runs again


def test_on_lost_fail_also_fails_a_task_interrupted_mid_run() -> None:
    result = tasks.add.using(on_lost="fail").enqueue(1, 2)
    claim_for("stopping-worker")

    recovery.release_worker(
        "default",
        "stopping-worker",
        outcome=AttemptOutcome.INTERRUPTED,
        now=timezone.now(),
        started={models.Task.objects.get(pk=result.id).pk: 1},
    )

    assert models.Task.objects.get(pk=result.id).status == Status.FAILED


def test_dead_slot_charges_only_the_tasks_it_had_started() -> None:
    running, waiting = tasks.add.using(retry=RetryPolicy.fixed(0)).enqueue_many([(1, 2), (3, 4)])
    claimed = claim_for("dead-slot", limit=2)
    assert len(claimed) == 2
    started = {task.id: task.attempt for task in claimed if str(task.id) == running.id}

    count = recovery.release_worker(
        "default", "dead-slot", outcome=AttemptOutcome.LOST, now=timezone.now(), started=started
    )

    assert count == 2
    lost = models.Task.objects.get(pk=running.id)
    assert (lost.status, lost.attempts, lost.lost_attempts) == (Status.QUEUED, 1, 1)
    assert [a.outcome for a in lost.attempt_set.all()] == [AttemptOutcome.LOST]
    untouched = models.Task.objects.get(pk=waiting.id)
    assert (untouched.status, untouched.attempts, untouched.lost_attempts) == (Status.QUEUED, 0, 0)
    assert not untouched.attempt_set.exists()


def test_mark_of_an_earlier_attempt_does_not_count_as_started() -> None:
    result = tasks.add.enqueue(1, 2)
    [claimed] = claim_for("dead-slot")

    recovery.release_worker(
        "default",
        "dead-slot",
        outcome=AttemptOutcome.LOST,
        now=timezone.now(),
        started={claimed.id: claimed.attempt - 1},
    )

    row = models.Task.objects.get(pk=result.id)
    assert (row.status, row.attempts, row.lost_attempts) == (Status.QUEUED, 0, 0)


def test_attempt_timed_out_from_outside_counts_against_max_attempts() -> None:
    result = tasks.add.enqueue(1, 2)  # one attempt
    [claimed] = claim_for("killed-slot")

    assert recovery.time_out(
        "default",
        "killed-slot",
        claimed.id,
        attempt=claimed.attempt,
        hard_limit=2.0,
        now=timezone.now(),
    )

    row = models.Task.objects.get(pk=result.id)
    assert row.status == Status.FAILED and row.lost_attempts == 0
    attempt = row.attempt_set.get()
    assert attempt.outcome == AttemptOutcome.TIMED_OUT
    assert "hard time limit (2 s)" in attempt.error_message


def test_context_counts_only_attempts_that_were_not_lost() -> None:
    result = tasks.last_attempt_flag.using(retry=RetryPolicy.fixed(0)).enqueue()  # max_attempts=2
    for _ in range(2):
        lose()
        make_ready(result.id)

    run_tasks()

    row = models.Task.objects.get(pk=result.id)
    assert row.status == Status.SUCCEEDED
    # Attempt 3, but the first that counts: one more is left.
    assert row.result == {"attempt": 3, "is_last_attempt": False}


def test_failure_after_lost_attempts_is_retried_while_counted_attempts_remain() -> None:
    result = tasks.fail_until_attempt.enqueue(4)  # max_attempts=3, fails before attempt 4
    for _ in range(2):
        lose()
        make_ready(result.id)

    run_tasks()  # attempt 3 fails: only the first that counts
    run_tasks()  # attempt 4 succeeds

    row = models.Task.objects.get(pk=result.id)
    assert (row.status, row.attempts, row.lost_attempts) == (Status.SUCCEEDED, 4, 2)
