"""The example of concurrency caps and rate limits (docs/reference/task-options.md), run."""

from __future__ import annotations

import pytest

from django_taskflow import Concurrency, models, waiting
from django_taskflow.states import Status
from django_taskflow.testing import run_tasks
from testproject.docs_examples import limits

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def fresh_stand_ins() -> None:
    for found in (limits.RESIZED, limits.SYNCED, limits.SENT):
        found.clear()


def test_capped_tasks_run_as_any_others() -> None:
    limits.resize_image.enqueue_many([(n,) for n in range(5)])
    limits.sync_account.enqueue(user_id=7)
    limits.sync_account.enqueue(8, full=True)
    limits.resize_image.using(concurrency=Concurrency(5)).enqueue(42)

    assert run_tasks() == 8
    assert sorted(limits.RESIZED) == [0, 1, 2, 3, 4, 42]
    assert sorted(limits.SYNCED) == [7, 8]


def test_a_rate_limited_task_waits_beyond_its_limit_and_says_why() -> None:
    results = limits.send_sms.enqueue_many([("+4412345", "hi")] * 12)

    assert run_tasks() == 10
    assert len(limits.SENT) == 10
    waiting_rows = models.Task.objects.filter(
        pk__in=[result.id for result in results], status=Status.QUEUED
    )
    assert waiting_rows.count() == 2
    [reason] = waiting.limit_reasons(waiting_rows.first())  # type: ignore[arg-type]
    assert "10 of at most 10 starts" in reason.message and "1 min" in reason.message
    assert reason.until is not None
