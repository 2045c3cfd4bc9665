"""Retry policies, retry conditions, validators and typed results, end to end."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from django.tasks import TaskResultStatus
from django.utils import timezone

from django_taskflow import models
from django_taskflow.states import AttemptOutcome, Status
from django_taskflow.testing import run_tasks
from tests import tasks

pytestmark = pytest.mark.django_db


def attempts_of(task_id: str) -> list[tuple[int, str, str]]:
    return list(
        models.Attempt.objects.filter(task_id=task_id)
        .order_by("number")
        .values_list("number", "outcome", "error_class")
    )


def test_backoff_delays_follow_the_policy() -> None:
    result = tasks.fail_with_backoff.enqueue()
    clock = timezone.now()
    delays = []
    for _ in range(4):
        run_tasks(now=lambda at=clock: at)
        row = models.Task.objects.get(pk=result.id)
        if row.status != Status.QUEUED:
            break
        delays.append((row.run_after - clock).total_seconds())
        clock = row.run_after  # jump to when the retry is due
    assert delays == pytest.approx([10, 20, 25], abs=0.01)  # exponential, capped at 25
    assert models.Task.objects.get(pk=result.id).status == Status.FAILED


def test_default_policy_backs_off_with_jitter_within_its_cap() -> None:
    result = tasks.fail_once.using(max_attempts=2).enqueue()
    clock = timezone.now()
    run_tasks(now=lambda: clock)
    row = models.Task.objects.get(pk=result.id)
    assert row.status == Status.QUEUED
    assert 0 <= (row.run_after - clock).total_seconds() <= 1.0  # full jitter of 1 s


def test_validator_rejection_is_retried_then_fails_with_every_error(tmp_path: Path) -> None:
    result = tasks.upload_file.enqueue([500, -1, 503, 500, 502], str(tmp_path / "calls"))
    for _ in range(6):
        run_tasks()
    result.refresh()
    assert result.status == TaskResultStatus.FAILED
    errors = attempts_of(result.id)
    assert [e[2] for e in errors] == [
        "django_taskflow.exceptions.ResultRejected",
        "builtins.ConnectionError",
        "django_taskflow.exceptions.ResultRejected",
        "django_taskflow.exceptions.ResultRejected",
        "django_taskflow.exceptions.ResultRejected",
    ]
    values = list(
        models.Attempt.objects.filter(task_id=result.id)
        .order_by("number")
        .values_list("error_value", flat=True)
    )
    assert values == [500, None, 503, 500, 502]


def test_retry_if_false_fails_at_once(tmp_path: Path) -> None:
    result = tasks.upload_file.enqueue([415], str(tmp_path / "calls"))
    run_tasks()
    row = models.Task.objects.get(pk=result.id)
    assert row.status == Status.FAILED
    assert row.attempts == 1
    assert row.attempt_set.get().error_value == 415


def test_validator_accepts_a_good_result_after_a_retry(tmp_path: Path) -> None:
    result = tasks.upload_file.enqueue([503, 200], str(tmp_path / "calls"))
    run_tasks()
    run_tasks()
    result.refresh()
    assert result.return_value == 200
    assert len(result.errors) == 1


def test_dont_retry_on_fails_at_once() -> None:
    result = tasks.refuse_permission.enqueue()
    run_tasks()
    assert attempts_of(result.id) == [(1, AttemptOutcome.FAILED, "builtins.PermissionError")]
    assert models.Task.objects.get(pk=result.id).status == Status.FAILED


@pytest.mark.parametrize(("kind", "runs"), [("connection", 3), ("value", 1)])
def test_retry_on_retries_only_the_named_errors(kind: str, runs: int) -> None:
    result = tasks.only_connection_errors_retried.enqueue(kind)
    for _ in range(4):
        run_tasks()
    assert len(attempts_of(result.id)) == runs


def test_context_retry_schedules_another_attempt_after_the_countdown() -> None:
    result = tasks.asks_to_retry.enqueue()
    run_tasks()  # countdown=0 overrides the task's 60 s policy, so both run now
    outcomes = [a[1] for a in attempts_of(result.id)]
    assert outcomes == [AttemptOutcome.RETRY_REQUESTED, AttemptOutcome.SUCCEEDED]
    result.refresh()
    assert result.return_value == 2


def test_dataclass_result_is_stored_as_a_dict_and_read_back_as_the_dataclass() -> None:
    result = tasks.make_point.enqueue(1, 2)
    run_tasks()
    result.refresh()
    assert models.Task.objects.get(pk=result.id).result == {"x": 1, "y": 2}
    assert result.return_value == tasks.Point(x=1, y=2)


def test_result_that_does_not_match_the_annotation_fails() -> None:
    result = tasks.wrong_type.enqueue()
    run_tasks()
    attempt = models.Attempt.objects.get(task_id=result.id)
    assert attempt.error_class == "django_taskflow.exceptions.ResultTypeMismatch"
    assert "expected int" in attempt.error_message


def test_retry_policy_is_stored_per_enqueue() -> None:
    from django_taskflow import RetryPolicy

    result = tasks.fail_once.using(max_attempts=2, retry=RetryPolicy.fixed(7)).enqueue()
    clock = timezone.now()
    run_tasks(now=lambda: clock)
    row = models.Task.objects.get(pk=result.id)
    assert row.retry_policy["kind"] == "fixed"
    assert row.run_after == clock + timedelta(seconds=7)


def test_project_wide_retry_policy_applies_when_a_task_names_none(settings) -> None:
    settings.TASKS = {
        "default": {
            "BACKEND": "django_taskflow.backend.TaskflowBackend",
            "QUEUES": ["default", "emails", "reports"],
            "OPTIONS": {
                "MAX_ATTEMPTS": 2,
                "RETRY_POLICY": {"kind": "fixed", "delay": 42},
            },
        }
    }
    result = tasks.fail_once.enqueue()
    clock = timezone.now()
    run_tasks(now=lambda: clock)
    row = models.Task.objects.get(pk=result.id)
    assert row.max_attempts == 2
    assert row.run_after == clock + timedelta(seconds=42)
