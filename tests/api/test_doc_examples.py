"""The examples of docs/howto/api.md, over HTTP against a live server."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import Permission, User

from django_taskflow import models
from django_taskflow.testing import run_tasks
from testproject.docs_examples import api


@pytest.fixture
def reporter(transactional_db: None) -> tuple[str, str]:
    user = User.objects.create_user("reporter", password="s3cret-pass")
    user.user_permissions.add(Permission.objects.get(codename="view_payload"))
    return "reporter", "s3cret-pass"


def test_start_a_report_and_follow_it(live_server: Any, reporter: tuple[str, str]) -> None:
    task_id = api.start_report(live_server.url, *reporter)
    assert api.report_status(live_server.url, *reporter, task_id) == "queued"
    run_tasks(queues=["reports"])
    assert api.report_status(live_server.url, *reporter, task_id) == "succeeded"
    task = models.Task.objects.get(pk=task_id)
    assert task.result == "Annual 2026 sent to 1 recipients"
    assert task.enqueued_by.username == "reporter"  # type: ignore[union-attr]


def test_page_through_failed_reports(live_server: Any, reporter: tuple[str, str]) -> None:
    user = User.objects.get(username="reporter")
    made = []
    for year in range(3):
        result = api.send_report.enqueue(year)
        models.Task.objects.filter(pk=result.id).update(status="failed", enqueued_by=user)
        made.append(result.id)
    assert sorted(api.every_failed_report(live_server.url, *reporter)) == sorted(made)
