"""Values a task hands over and then changes, and errors that are hard to print."""

from __future__ import annotations

from typing import Any

import pytest

from django_taskflow import models
from django_taskflow.states import AttemptOutcome, Status
from django_taskflow.testing import run_tasks
from tests import tasks

pytestmark = pytest.mark.django_db(transaction=True)


def test_progress_is_recorded_as_reported_even_if_the_task_changes_it_afterwards() -> None:
    result = tasks.changes_reported_progress.enqueue()

    run_tasks()

    row = models.Task.objects.get(pk=result.id)
    assert row.status == Status.SUCCEEDED
    assert row.progress_detail == {"done": ["a.csv"]}


@pytest.mark.parametrize("kind", ["bytes", "raises", "huge", "chain"])
def test_an_error_that_is_hard_to_print_still_ends_its_attempt(kind: str) -> None:
    result = tasks.raise_awkward_error.enqueue(kind)

    run_tasks()
    run_tasks()

    row = models.Task.objects.get(pk=result.id)
    assert (row.status, row.attempts) == (Status.FAILED, 2)
    attempts = list(row.attempt_set.order_by("number"))
    assert [a.outcome for a in attempts] == [AttemptOutcome.FAILED] * 2
    assert attempts[-1].error_class.rsplit(".", 1)[-1] in {
        "_StrReturnsBytes",
        "_StrRaises",
        "ValueError",
        "RuntimeError",
    }


@pytest.mark.parametrize(
    ("definition", "error_class"),
    [
        # An async task awaited work that was cancelled.
        (tasks.awaits_a_cancelled_task, "asyncio.exceptions.CancelledError"),
        # A framework the task uses raised its own BaseException.
        (tasks.raises_a_base_exception, "tests.tasks.FrameworkExit"),
    ],
)
def test_a_base_exception_from_the_task_is_its_own_error_not_a_worker_crash(
    definition: Any, error_class: str
) -> None:
    result = definition.enqueue()

    run_tasks()

    row = models.Task.objects.get(pk=result.id)
    assert (row.status, row.attempts, row.lost_attempts) == (Status.FAILED, 1, 0)
    [attempt] = row.attempt_set.all()
    assert (attempt.outcome, attempt.error_class) == (AttemptOutcome.FAILED, error_class)
