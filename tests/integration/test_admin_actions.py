"""The admin's actions: cancel, requeue, retry now; each behind its own permission."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from django.contrib.auth.models import Permission, User
from django.contrib.messages import get_messages
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from django_taskflow import models, rerun
from django_taskflow.models import EventKind
from django_taskflow.testing import run_tasks
from tests import tasks
from tests.conftest import claim_for

pytestmark = pytest.mark.django_db

CHANGELIST = "admin:django_taskflow_task_changelist"


@pytest.fixture
def staff_with() -> Callable[..., Client]:
    """A logged-in staff user with view_task and the permissions named."""

    def make(*codenames: str) -> Client:
        user = User.objects.create_user(f"staff{User.objects.count()}", is_staff=True)
        wanted = ("view_task", *codenames)
        user.user_permissions.add(*Permission.objects.filter(codename__in=wanted))
        client = Client()
        client.force_login(user)
        return client

    return make


def post_action(
    client: Client,
    action: str,
    ids: list[str],
    *,
    select_across: bool = False,
    query: str = "",
) -> list[str]:
    response = client.post(
        reverse(CHANGELIST) + query,
        {
            "action": action,
            "_selected_action": ids,
            "select_across": "1" if select_across else "0",
            "index": "0",
        },
    )
    assert response.status_code in (200, 302)
    return [str(message) for message in get_messages(response.wsgi_request)]


def failed(count: int = 1) -> list[str]:
    ids = [tasks.fail_once.enqueue().id for _ in range(count)]
    run_tasks()
    return ids


def action_names(client: Client) -> set[str]:
    page = client.get(reverse(CHANGELIST)).content.decode()
    return set(re.findall(r'<option value="(\w+_tasks)"', page))


def test_each_action_shows_only_with_its_permission(staff_with: Callable[..., Client]) -> None:
    failed()
    assert action_names(staff_with()) == set()
    assert action_names(staff_with("cancel_task")) == {"cancel_tasks"}
    assert action_names(staff_with("requeue_task", "retry_task")) == {
        "requeue_tasks",
        "retry_tasks",
    }


@pytest.mark.parametrize("action", ["cancel_tasks", "requeue_tasks", "retry_tasks"])
def test_a_crafted_post_without_the_permission_changes_nothing(
    staff_with: Callable[..., Client], action: str
) -> None:
    (task_id,) = failed()
    queued = tasks.add.enqueue(1, 2).id
    others = {"cancel_tasks": "requeue_task", "requeue_tasks": "retry_task"}
    client = staff_with(others.get(action, "cancel_task"))  # any permission but this one
    messages = post_action(client, action, [task_id, queued])
    assert messages == ["No action selected."]
    assert models.Task.objects.get(pk=task_id).status == "failed"
    assert models.Task.objects.get(pk=queued).status == "queued"
    assert models.Task.objects.count() == 2


def test_retry_now_action_reports_changed_and_refused(staff_with: Callable[..., Client]) -> None:
    (task_id,) = failed()
    done = tasks.add.enqueue(1, 2).id
    run_tasks()
    messages = post_action(staff_with("retry_task"), "retry_tasks", [task_id, done])
    assert messages == [
        "1 task queued to run now.",
        "1 task left as it was: it is succeeded: requeue it to run it again.",
    ]
    task = models.Task.objects.get(pk=task_id)
    assert task.status == "queued"
    assert task.event_set.get(kind=EventKind.RETRIED).data == {"by": "staff0"}


def test_requeue_action_links_the_new_task_to_the_original(
    staff_with: Callable[..., Client],
) -> None:
    done = tasks.add.enqueue(1, 2).id
    run_tasks()
    queued = tasks.add.enqueue(3, 4).id
    messages = post_action(staff_with("requeue_task"), "requeue_tasks", [done, queued])
    assert messages == [
        "1 task requeued.",
        "1 task left as it was: it is still queued or running: nothing to requeue.",
    ]
    copy = models.Task.objects.get(original=done)
    assert copy.args == [1, 2] and copy.status == "queued"
    page = Client()
    page.force_login(User.objects.create_superuser("root"))
    content = page.get(reverse("admin:django_taskflow_task_change", args=[copy.pk])).content
    assert reverse("admin:django_taskflow_task_change", args=[done]).encode() in content


def test_cancel_action_cancels_queued_and_refuses_finished(
    staff_with: Callable[..., Client],
) -> None:
    (finished,) = failed()
    queued = tasks.add.enqueue(1, 2).id
    messages = post_action(staff_with("cancel_task"), "cancel_tasks", [finished, queued])
    assert messages == [
        "1 task cancelled or asked to stop.",
        "1 task left as it was: it is finished, or already asked to stop.",
    ]
    task = models.Task.objects.get(pk=queued)
    assert (task.status, task.cancelled_by) == ("cancelled", "staff0")


def test_retry_now_over_select_all_of_10000_rows_works_in_chunks(
    staff_with: Callable[..., Client],
) -> None:
    now = timezone.now()
    models.Task.objects.bulk_create(
        models.Task(
            task_path="tests.tasks.fail_once",
            status="failed",
            attempts=1,
            max_attempts=1,
            finished_at=now,
            args=[number],
        )
        for number in range(10_000)
    )
    models.Task.objects.bulk_create(
        models.Task(task_path="tests.tasks.add", status="succeeded", finished_at=now)
        for _ in range(5)
    )
    first_page = [str(pk) for pk in models.Task.objects.values_list("pk", flat=True)[:100]]
    client = staff_with("retry_task")
    with CaptureQueriesContext(connection) as queries:
        messages = post_action(
            client,
            "retry_tasks",
            first_page,
            select_across=True,
            query="?status__exact=failed",
        )
    assert messages == ["10000 tasks queued to run now."]
    assert models.Task.objects.filter(status="queued", max_attempts=2).count() == 10_000
    assert models.Task.objects.filter(status="succeeded").count() == 5
    updates = [q["sql"] for q in queries.captured_queries if q["sql"].lstrip().startswith("UPDATE")]
    assert len(updates) == 10_000 // rerun.CHUNK
    # The ids are read in pages of CHUNK: the selection is never loaded whole.
    pages = [q["sql"] for q in queries.captured_queries if f"LIMIT {rerun.CHUNK}" in q["sql"]]
    assert 10_000 // rerun.CHUNK <= len(pages) <= 10_000 // rerun.CHUNK + 1


def test_cancel_action_asks_a_running_task_to_stop_once(
    staff_with: Callable[..., Client],
) -> None:
    running = tasks.add.enqueue(1, 2).id
    claim_for("host:1:slot:1")
    client = staff_with("cancel_task")
    assert post_action(client, "cancel_tasks", [running]) == ["1 task cancelled or asked to stop."]
    task = models.Task.objects.get(pk=running)
    assert task.status == "running" and task.cancel_requested_at is not None
    # (The first request's message was never shown, so it is still stored.)
    assert post_action(client, "cancel_tasks", [running])[-2:] == [
        "0 tasks cancelled or asked to stop.",
        "1 task left as it was: it is finished, or already asked to stop.",
    ]
