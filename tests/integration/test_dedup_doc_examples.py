"""The deduplication examples of docs/reference/task-options.md, run for real."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from django.utils import timezone

from django_taskflow import enqueue, models
from django_taskflow.testing import run_tasks
from testproject.docs_examples import dedup

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def empty_stand_ins() -> Iterator[None]:
    dedup.SENT.clear()
    dedup.INDEXED.clear()
    yield
    dedup.SENT.clear()
    dedup.INDEXED.clear()


def test_a_double_click_sends_one_receipt() -> None:
    first = dedup.send_receipt.enqueue(42)
    second = dedup.send_receipt.enqueue(42)
    run_tasks()

    assert second.deduplicated and second.id == first.id
    assert dedup.SENT == [42]


def test_one_profile_sync_per_user_whichever_page_asked() -> None:
    web = dedup.sync_profile.enqueue(7)
    api = dedup.sync_profile.enqueue(7, source="api")
    assert api.deduplicated and api.id == web.id
    assert not dedup.sync_profile.enqueue(8, source="api").deduplicated


def test_a_burst_of_edits_reindexes_once_with_the_last_fields() -> None:
    start = timezone.now()
    backend = dedup.reindex_user.get_backend()
    for second, fields in enumerate((["name"], ["email"], ["name", "email"])):
        enqueue.enqueue(
            backend, dedup.reindex_user, (7, fields), {}, now=start + timedelta(seconds=second)
        )
    run_tasks(now=lambda: start + timedelta(seconds=11))  # 9 s after the last edit
    assert dedup.INDEXED == []

    run_tasks(now=lambda: start + timedelta(seconds=12))  # quiet for 10 s
    assert dedup.INDEXED == [(7, ["name", "email"])]


def test_a_charge_is_deduplicated_on_its_key() -> None:
    first = dedup.charge.using(key="invoice-17").enqueue(17, 500)
    retry_click = dedup.charge.using(key="invoice-17").enqueue(17, 500)
    assert retry_click.id == first.id and retry_click.deduplicated


def test_one_report_rebuild_at_a_time_then_another_may_follow() -> None:
    first = dedup.rebuild_report.enqueue(3)
    assert dedup.rebuild_report.enqueue(3).id == first.id
    run_tasks()
    assert not dedup.rebuild_report.enqueue(3).deduplicated
    assert models.Task.objects.count() == 2
