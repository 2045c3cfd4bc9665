"""A worker lacking a task's key hands it back uncharged; the admin says what it waits for."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from django_taskflow import models, waiting
from django_taskflow.models import EventKind
from django_taskflow.states import Status
from django_taskflow.testing import run_tasks
from tests import encrypted_tasks, typed_tasks
from tests.integration.test_encryption import KEY_1, KEY_2, use_keys

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_worker_without_the_key_hands_the_task_back_uncharged_and_logs_once(
    settings: Any, caplog: pytest.LogCaptureFixture, admin_client: Client
) -> None:
    use_keys(settings, KEY_1)
    first = encrypted_tasks.archive.enqueue("one")
    second = encrypted_tasks.archive.enqueue("two")
    plain = typed_tasks.echo.enqueue("runs anyway")
    use_keys(settings, KEY_2)  # a worker deployed without k1

    with caplog.at_level(logging.ERROR, logger="django_taskflow.worker.missing_keys"):
        run_tasks()

    assert models.Task.objects.get(pk=plain.id).status == Status.SUCCEEDED
    for result in (first, second):
        row = models.Task.objects.get(pk=result.id)
        assert (row.status, row.attempts, row.worker_id) == (Status.QUEUED, 0, None)
        assert not row.attempt_set.exists()
        event = row.event_set.get(kind=EventKind.KEY_MISSING)
        assert event.data["key"] == "k1"
        assert row.run_after > timezone.now()
    messages = [r.getMessage() for r in caplog.records if "lacks encryption key" in r.getMessage()]
    assert len(messages) == 1 and "'k1'" in messages[0]
    row = models.Task.objects.get(pk=first.id)
    assert any(
        reason.kind == "encryption_key" and reason.message.startswith("waiting for key k1")
        for reason in waiting.why_waiting(row)
    )
    page = admin_client.get(reverse("admin:django_taskflow_task_change", args=[row.pk]))
    assert "waiting for key k1" in page.content.decode()

    # A worker with the key (k2 writes, k1 still reads) runs them.
    use_keys(settings, KEY_2, KEY_1)
    run_tasks(now=lambda: timezone.now() + timedelta(seconds=10))

    first.refresh()
    second.refresh()
    assert (first.return_value, second.return_value) == ("ONE", "TWO")
    assert models.Task.objects.get(pk=first.id).attempts == 1
