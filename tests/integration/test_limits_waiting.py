"""Why a queued task waits for its limits, and until when: for the admin, not the claim."""

from __future__ import annotations

import html
from datetime import timedelta
from pathlib import Path

import pytest
from django.db.models import F
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from django_taskflow import models, waiting
from django_taskflow.claim import claim_gated
from django_taskflow.states import Status
from tests import limited_tasks, tasks

pytestmark = pytest.mark.django_db


def take() -> object:
    return claim_gated(
        database="default", worker_id="W", queues=[], lease_seconds=30, now=timezone.now()
    ).task


def row(result: object) -> models.Task:
    return models.Task.objects.get(pk=result.id)  # type: ignore[attr-defined]


def test_a_task_held_by_its_cap_says_so_until_a_slot_frees(tmp_path: Path) -> None:
    first, second = limited_tasks.capped.enqueue_many([(str(tmp_path), 0)] * 2)
    third = limited_tasks.capped.enqueue(str(tmp_path), 0)
    assert waiting.concurrency_reason(row(third)) is None  # room: it is not held back
    assert take() and take()
    found = waiting.concurrency_reason(row(third))
    assert found is not None and found.until is None
    assert f"2 of at most 2 tasks of group {limited_tasks.capped.module_path} are running" in (
        found.message
    )
    models.Task.objects.filter(pk=first.id).update(status=Status.SUCCEEDED)
    assert waiting.concurrency_reason(row(third)) is None
    assert waiting.concurrency_reason(row(second)) is None  # running: it waits for nothing


def test_a_task_held_by_its_rate_limit_says_until_when(tmp_path: Path) -> None:
    results = limited_tasks.rate_limited.enqueue_many([(str(tmp_path), n) for n in range(4)])
    for _ in range(3):
        assert take()
    now = timezone.now()
    found = waiting.rate_limit_reason(row(results[3]), now=now)
    assert found is not None
    assert "3 of at most 3 starts" in found.message and "in the last 2 s" in found.message
    first_start = models.RateStart.objects.order_by("started_at").first()
    assert first_start is not None
    assert found.until == first_start.started_at + timedelta(seconds=2)
    assert waiting.rate_limit_reason(row(results[3]), now=now + timedelta(seconds=3)) is None
    assert waiting.limit_reasons(row(results[3]), now=now) == [found]


def test_a_task_without_limits_waits_for_none(tmp_path: Path) -> None:
    result = tasks.add.enqueue(1, 2)
    assert waiting.limit_reasons(row(result)) == []


def test_the_admin_shows_the_limits_and_what_the_task_waits_for(
    admin_client: Client, tmp_path: Path
) -> None:
    results = limited_tasks.capped_and_rate_limited.enqueue_many([(str(tmp_path), "acct")] * 2)
    assert take()
    # The starts' window: pretend they were long ago, so only the cap holds it.
    models.RateStart.objects.update(started_at=F("started_at") - timedelta(seconds=10))
    page = admin_client.get(reverse("admin:django_taskflow_task_change", args=[results[1].id]))
    content = html.unescape(page.content.decode())
    assert page.status_code == 200
    path = limited_tasks.capped_and_rate_limited.module_path
    assert f"1 at once in group {path}[acct] (fifo)" in content
    assert f"2 per 2 s in group {path}[acct]" in content
    assert "its concurrency cap: 1 of at most 1 tasks" in content

    plain = tasks.add.enqueue(1, 2)
    page = admin_client.get(reverse("admin:django_taskflow_task_change", args=[plain.id]))
    assert "concurrency cap" not in page.content.decode()
