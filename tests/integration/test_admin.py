"""The admin shows task history with every attempt, read-only."""

from __future__ import annotations

import html
from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.auth.models import Permission, User
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from django_taskflow import models, recovery, transitions
from django_taskflow.models import EventKind
from django_taskflow.states import AttemptOutcome
from django_taskflow.testing import run_tasks
from tests import tasks
from tests.conftest import claim_for

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(admin_client: Client) -> Client:
    return admin_client


def test_changelist_lists_tasks_with_status_and_attempts(staff_client: Client) -> None:
    tasks.add.enqueue(1, 2)
    tasks.fail_once.enqueue()
    run_tasks()
    response = staff_client.get(reverse("admin:django_taskflow_task_changelist"))
    assert response.status_code == 200
    content = response.content.decode()
    assert "tests.tasks.add" in content and "tests.tasks.fail_once" in content
    assert "Succeeded" in content and "Failed" in content
    assert "1/1" in content


@pytest.mark.parametrize(
    "query",
    ["status__exact=failed", "queue_name__exact=default", "task_path__exact=tests.tasks.fail_once"],
)
def test_changelist_filters(staff_client: Client, query: str) -> None:
    tasks.add.enqueue(1, 2)
    tasks.fail_once.enqueue()
    run_tasks()
    response = staff_client.get(reverse("admin:django_taskflow_task_changelist") + "?" + query)
    shown = {task.task_path for task in response.context["cl"].result_list}
    expected = (
        {"tests.tasks.add", "tests.tasks.fail_once"}
        if "queue" in query
        else {"tests.tasks.fail_once"}
    )
    assert shown == expected


def test_search_by_id_and_key(staff_client: Client) -> None:
    keyed = tasks.add.using(key="invoice-42").enqueue(1, 2)
    other = tasks.add.enqueue(3, 4)
    url = reverse("admin:django_taskflow_task_changelist")
    by_key = staff_client.get(url, {"q": "invoice-42"}).context["cl"].result_list
    assert [str(task.id) for task in by_key] == [keyed.id]
    by_id = staff_client.get(url, {"q": other.id}).context["cl"].result_list
    assert [str(task.id) for task in by_id] == [other.id]


def test_detail_shows_attempts_with_error_and_traceback(staff_client: Client) -> None:
    result = tasks.fail_always.enqueue("disk on fire")
    run_tasks()
    response = staff_client.get(reverse("admin:django_taskflow_task_change", args=[result.id]))
    assert response.status_code == 200
    content = response.content.decode()
    assert "disk on fire" in content
    assert "builtins.RuntimeError" in content
    assert "Traceback" in content


def test_admin_is_read_only(staff_client: Client) -> None:
    result = tasks.add.enqueue(1, 2)
    assert staff_client.get(reverse("admin:django_taskflow_task_add")).status_code == 403
    delete = staff_client.post(
        reverse("admin:django_taskflow_task_delete", args=[result.id]), {"post": "yes"}
    )
    assert delete.status_code == 403
    assert models.Task.objects.filter(pk=result.id).exists()


def test_staff_without_view_permission_is_refused(client: Client) -> None:
    user = User.objects.create_user("clerk", password="pw", is_staff=True)
    client.force_login(user)
    url = reverse("admin:django_taskflow_task_changelist")
    assert client.get(url).status_code == 403
    user.user_permissions.add(Permission.objects.get(codename="view_task"))
    assert client.get(url).status_code == 200


# -- display faults --------------------------------------------------------------


def changelist(client: Client) -> str:
    return html.unescape(
        client.get(reverse("admin:django_taskflow_task_changelist")).content.decode()
    )


def detail(client: Client, task_id: str) -> str:
    return html.unescape(
        client.get(reverse("admin:django_taskflow_task_change", args=[task_id])).content.decode()
    )


def interrupt(worker_id: str) -> None:
    """What a forced stop records: the running attempt is handed back at once."""
    recovery.release_worker(
        "default", worker_id, outcome=AttemptOutcome.INTERRUPTED, now=timezone.now()
    )


def test_an_interrupted_attempt_is_not_shown_as_over_the_limit(staff_client: Client) -> None:
    result = tasks.add.enqueue(1, 2)  # max_attempts=1
    claim_for("forced-stop:1")
    interrupt("forced-stop:1")
    run_tasks()
    assert models.Task.objects.get(pk=result.id).attempts == 2
    for page in (changelist(staff_client), detail(staff_client, result.id)):
        assert "1/1 (+1 lost)" in page
        assert "2/1" not in page


def test_a_requeued_task_does_not_show_the_progress_of_its_last_attempt(
    staff_client: Client,
) -> None:
    result = tasks.add.enqueue(1, 2)
    (claimed,) = claim_for("slot:1")
    note = transitions.Note(
        task=claimed, kind=EventKind.PROGRESS, at=timezone.now(), data={"progress": 0.4}
    )
    transitions.record_batch("default", "slot:1", [], [note])
    assert "40%" in changelist(staff_client)  # shown while its attempt runs

    interrupt("slot:1")
    assert models.Task.objects.get(pk=result.id).progress == 0.4  # the stale stored value
    assert "40%" not in changelist(staff_client)
    claim_for("slot:2")  # the next attempt runs but has reported nothing yet
    assert "40%" not in changelist(staff_client)
    assert "40%" not in detail(staff_client, result.id)


def test_times_show_seconds_and_milliseconds(staff_client: Client) -> None:
    at = datetime(2026, 5, 4, 12, 4, 31, 207_000, tzinfo=UTC)
    result = tasks.add.enqueue(1, 2)
    models.Task.objects.filter(pk=result.id).update(enqueued_at=at, run_after=at)
    run_tasks(now=lambda: at + timedelta(seconds=1.5))
    assert "2026-05-04 12:04:31.207" in changelist(staff_client)
    page = detail(staff_client, result.id)
    assert "2026-05-04 12:04:31.207" in page  # enqueued
    assert "2026-05-04 12:04:32.707" in page  # started and finished (attempt and task)


def test_the_retry_policy_does_not_show_a_null_max_attempts(staff_client: Client) -> None:
    result = tasks.fail_always.enqueue("x")  # max_attempts=3 on the task, not the policy
    assert models.Task.objects.get(pk=result.id).retry_policy["max_attempts"] is None
    page = detail(staff_client, result.id)
    assert '{"kind": "fixed", "delay": 0, "jitter": false}' in page
    assert '"max_attempts": null' not in page


def test_every_page_renders_for_a_task_in_each_state_even_if_its_path_no_longer_imports(
    staff_client: Client,
) -> None:
    queued = tasks.add.enqueue(1, 2)
    running = tasks.echo.enqueue({"nested": ["value", None]})
    claim_for("slot:1", limit=2)
    finished = [tasks.add.enqueue(3, 4), tasks.fail_always.enqueue("x"), tasks.fail_once.enqueue()]
    run_tasks()
    cancelled = tasks.noop.enqueue()
    models.Task.objects.filter(pk=cancelled.id).update(status="cancelled")
    gone = tasks.add.enqueue(5, 6)
    models.Task.objects.filter(pk=gone.id).update(task_path="myapp.tasks.renamed_since")
    ids = [queued.id, running.id, *(result.id for result in finished), cancelled.id, gone.id]
    statuses = set(models.Task.objects.values_list("status", flat=True))
    assert statuses >= {"queued", "running", "succeeded", "failed", "cancelled"}

    changelist_url = reverse("admin:django_taskflow_task_changelist")
    for query in (
        "",
        "?q=renamed_since",
        "?q=not-an-id",
        "?task_path__exact=myapp.tasks.renamed_since",
    ):
        assert staff_client.get(changelist_url + query).status_code == 200
    for task_id in ids:
        for view in ("change", "history"):
            url = reverse(f"admin:django_taskflow_task_{view}", args=[task_id])
            assert staff_client.get(url).status_code == 200, (view, task_id)
        delete = reverse("admin:django_taskflow_task_delete", args=[task_id])
        assert staff_client.get(delete).status_code == 403


def test_detail_shows_who_cancelled_a_task_when_and_why(staff_client: Client) -> None:
    from django_taskflow import cancel

    result = tasks.add.enqueue(1, 2)
    cancel(result.id, reason="sent twice", by="alice")
    response = staff_client.get(reverse("admin:django_taskflow_task_change", args=[result.id]))
    page = html.unescape(response.content.decode())
    assert "Cancellation" in page
    assert "alice" in page and "sent twice" in page
    assert "Cancel requested at" in page
