"""Errors, results and progress that the database or the encoder cannot take as they are.

Each attempt still ends in a transition: texts are stored with escapes (see
``django_taskflow.text``), and a result too deep to encode fails the task
with ``UnserializablePayload``, without a retry.
"""

from __future__ import annotations

from typing import Any

import pytest

from django_taskflow import models, payloads
from django_taskflow.states import Status
from django_taskflow.testing import run_tasks
from tests import tasks

pytestmark = pytest.mark.django_db


def attempts_of(task_id: str) -> list[dict[str, object]]:
    return list(
        models.Attempt.objects.filter(task_id=task_id)
        .order_by("number")
        .values("number", "outcome", "error_class", "error_message")
    )


def finishing_events(task_id: str) -> list[tuple[str, int | None]]:
    return list(
        models.Event.objects.filter(task_id=task_id)
        .exclude(kind__in=["started", "progress"])
        .order_by("id")
        .values_list("kind", "attempt")
    )


@pytest.mark.parametrize(
    ("definition", "error_class", "stored_message"),
    [
        (tasks.raise_nul_message, "builtins.ValueError", "a\\x00b"),
        (
            tasks.raise_surrogate_message,
            "builtins.FileNotFoundError",
            "no such file: report-\\udcff.csv",
        ),
    ],
    ids=["nul", "lone-surrogate"],
)
def test_an_error_message_the_database_refuses_is_retried_as_the_real_error(
    definition: Any, error_class: str, stored_message: str
) -> None:
    result = definition.enqueue()
    later = tasks.add.enqueue(1, 2)

    run_tasks()  # the retry has no delay, so both attempts run

    assert attempts_of(result.id) == [
        {
            "number": n,
            "outcome": "failed",
            "error_class": error_class,
            "error_message": stored_message,
        }
        for n in (1, 2)
    ]
    assert finishing_events(result.id) == [("retrying", 1), ("failed", 2)]
    assert models.Task.objects.get(pk=result.id).status == Status.FAILED
    assert models.Task.objects.get(pk=later.id).status == Status.SUCCEEDED
    traceback = models.Attempt.objects.filter(task_id=result.id).first().traceback  # type: ignore[union-attr]
    assert stored_message in traceback


def test_a_result_nested_too_deep_fails_at_once_as_unserializable() -> None:
    result = tasks.return_deep_list.enqueue(2_000)
    later = tasks.add.enqueue(1, 2)

    run_tasks()

    [attempt] = attempts_of(result.id)
    assert attempt["error_class"] == "django_taskflow.exceptions.UnserializablePayload"
    assert "deeper than the limit of 500 levels" in str(attempt["error_message"])
    assert models.Task.objects.get(pk=result.id).status == Status.FAILED  # no retry
    assert models.Task.objects.get(pk=later.id).status == Status.SUCCEEDED


def test_a_result_as_deep_as_the_limit_is_stored() -> None:
    result = tasks.return_deep_list.enqueue(499)

    run_tasks()

    result.refresh()
    depth = 0
    value = result.return_value
    while value:
        [value] = value
        depth += 1
    assert depth == 499


def test_progress_with_nul_and_surrogates_is_stored_escaped() -> None:
    result = tasks.report_awkward_progress.enqueue()

    run_tasks()

    row = models.Task.objects.get(pk=result.id)
    assert row.status == Status.SUCCEEDED
    assert row.progress_detail == {
        "file": "report-\\udcff.csv",
        "nested": {"note": "a\\x00b", "items": ["report-\\udcff.csv"]},
    }
    event = models.Event.objects.get(task_id=result.id, kind="progress")
    assert event.data["detail"] == row.progress_detail


def test_any_failure_of_the_result_encoder_fails_at_once_as_unserializable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    result = tasks.add.using(max_attempts=3).enqueue(1, 2)

    def encoder_that_recurses(value: object, max_bytes: int | None = None) -> str:
        raise RecursionError("maximum recursion depth exceeded while encoding")

    monkeypatch.setattr(payloads, "encode_result", encoder_that_recurses)
    run_tasks()

    [attempt] = attempts_of(result.id)
    assert attempt["error_class"] == "django_taskflow.exceptions.UnserializablePayload"
    assert attempt["error_message"] == (
        "The task's result could not be encoded as JSON: "
        "maximum recursion depth exceeded while encoding"
    )
    assert models.Task.objects.get(pk=result.id).status == Status.FAILED
