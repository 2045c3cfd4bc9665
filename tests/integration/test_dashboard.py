"""The dashboard's pages: who may open them, what they show, and its buttons."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth.models import Permission
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from django_taskflow import models
from django_taskflow.dashboard import reading
from tests import tasks

pytestmark = pytest.mark.django_db

PAGE = "/taskflow/"


@pytest.fixture
def staff(django_user_model: Any) -> Any:
    return django_user_model.objects.create_user("staff", password="x", is_staff=True)


@pytest.fixture
def operator(staff: Any) -> Any:
    """Staff with the admin's cancel_task and requeue_task permissions."""
    staff.user_permissions.add(
        *Permission.objects.filter(codename__in=["cancel_task", "requeue_task"])
    )
    return staff


def client_for(user: Any, **options: Any) -> Client:
    client = Client(**options)
    client.force_login(user)
    return client


def running_with_message(message: str, progress: float = 0.5) -> models.Task:
    task = models.Task.objects.get(pk=tasks.noop.enqueue().id)
    models.Task.objects.filter(pk=task.pk).update(
        status="running", attempts=1, progress=progress, started_at=timezone.now()
    )
    models.Event.objects.create(task=task, kind="progress", attempt=1, data={"message": message})
    return task


def test_visitors_and_users_who_are_not_staff_are_sent_to_the_admin_login(
    client: Client, django_user_model: Any
) -> None:
    response = client.get(PAGE)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))
    user = django_user_model.objects.create_user("user", password="x")
    assert client_for(user).get(PAGE).status_code == 302
    assert client_for(user).get(reverse("django_taskflow:dashboard-rows")).status_code == 302


def test_the_page_shows_running_and_recent_tasks_with_progress_counts_and_chart(
    staff: Any,
) -> None:
    running = running_with_message("half way", 0.5)
    queued = tasks.noop.using(queue_name="emails").enqueue()
    response = client_for(staff).get(PAGE)
    assert response.status_code == 200
    page = response.content.decode()
    assert f'id="task-{running.pk}"' in page and f'id="task-{queued.id}"' in page
    assert 'value="0.500000"' in page and "half way" in page and "50%" in page
    assert response.context["summary"].queues["emails"]["queued"] == 1
    assert response.context["summary"].totals["running"] == 1
    assert 'id="throughput-data"' in page


def test_progress_messages_and_filters_are_escaped(staff: Any) -> None:
    hostile = '<img src=x onerror="alert(1)">'
    running_with_message(hostile)
    page = client_for(staff).get(PAGE).content.decode()
    assert hostile not in page
    assert "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;" in page
    rows = client_for(staff).get(reverse("django_taskflow:dashboard-rows"), {"q": "<b>:x"})
    assert "<b>" not in rows.content.decode()
    assert "Unknown filter &#x27;&lt;b&gt;&#x27;" in rows.content.decode()


def test_the_filter_box_selects_by_status_queue_name_and_id(staff: Any) -> None:
    email = tasks.noop.using(queue_name="emails").enqueue()
    other = tasks.add.enqueue(1, 2)
    running = running_with_message("busy")
    url = reverse("django_taskflow:dashboard-rows")
    client = client_for(staff)

    def shown(q: str) -> set[str]:
        return {row.id for row in client.get(url, {"q": q}).context["rows"]}

    assert shown("queue:emails") == {email.id}
    assert shown("running") == {str(running.pk)}
    assert shown("name:tests.tasks.add") == {other.id}
    assert shown(other.id) == {other.id}
    assert shown("") == {email.id, other.id, str(running.pk)}
    unknown = client.get(url, {"q": "no_such_task"})
    assert unknown.status_code == 200
    assert "No task defined in this code base is named" in unknown.content.decode()
    assert client.get(url, {"q": "status:bogus"}).context["filter_error"]


def test_cancel_button_cancels_with_permission_and_csrf(operator: Any) -> None:
    queued = tasks.noop.enqueue()
    url = reverse("django_taskflow:dashboard-cancel", args=[queued.id])
    response = client_for(operator).post(url, headers={"HX-Request": "true"})
    assert response.status_code == 200
    assert models.Task.objects.get(pk=queued.id).status == "cancelled"
    assert (
        f'id="task-{queued.id}" class="task" data-task="{queued.id}" data-status="cancelled"'
        in (response.content.decode())
    )
    again = client_for(operator).post(url, headers={"HX-Request": "true"})
    assert again.status_code == 409


def test_cancel_is_refused_without_the_permission(staff: Any) -> None:
    queued = tasks.noop.enqueue()
    url = reverse("django_taskflow:dashboard-cancel", args=[queued.id])
    response = client_for(staff).post(url, headers={"HX-Request": "true"})
    assert response.status_code == 403
    assert "permission to cancel" in response.content.decode()
    assert models.Task.objects.get(pk=queued.id).status == "queued"
    page = client_for(staff).get(PAGE).content.decode()
    assert "dashboard-cancel" not in page and "/cancel" not in page


def test_a_post_without_the_csrf_token_changes_nothing(operator: Any) -> None:
    queued = tasks.noop.enqueue()
    client = client_for(operator, enforce_csrf_checks=True)
    response = client.post(reverse("django_taskflow:dashboard-cancel", args=[queued.id]))
    assert response.status_code == 403
    assert models.Task.objects.get(pk=queued.id).status == "queued"


def test_requeue_button_enqueues_a_copy_of_a_finished_task(operator: Any) -> None:
    original = tasks.add.enqueue(2, 3)
    models.Task.objects.filter(pk=original.id).update(status="failed", finished_at=timezone.now())
    url = reverse("django_taskflow:dashboard-requeue", args=[original.id])
    response = client_for(operator).post(url, headers={"HX-Request": "true"})
    assert response.status_code == 200
    copy = models.Task.objects.exclude(pk=original.id).get()
    assert (copy.status, copy.args) == ("queued", [2, 3])
    assert f'id="task-{copy.pk}"' in response.content.decode()
    queued = client_for(operator).post(
        reverse("django_taskflow:dashboard-requeue", args=[copy.pk]), headers={"HX-Request": "true"}
    )
    assert queued.status_code == 409


def test_a_plain_form_post_comes_back_to_the_page_with_a_message(operator: Any) -> None:
    queued = tasks.noop.enqueue()
    client = client_for(operator)
    response = client.post(
        reverse("django_taskflow:dashboard-cancel", args=[queued.id]), follow=True
    )
    assert response.redirect_chain == [(PAGE, 302)]
    assert "cancel requested" in response.content.decode()


def test_finished_tasks_are_counted_over_the_last_fifteen_minutes_only(staff: Any) -> None:
    now = timezone.now()
    recent, old = tasks.noop.enqueue(), tasks.noop.enqueue()
    models.Task.objects.filter(pk=recent.id).update(
        status="succeeded", finished_at=now - timedelta(minutes=2)
    )
    models.Task.objects.filter(pk=old.id).update(
        status="succeeded", finished_at=now - timedelta(hours=2)
    )
    figures = reading.summary("default", now)
    assert figures.totals["succeeded"] == 1
    assert sum(figures.throughput["succeeded"]) == 1
    assert figures.throughput["succeeded"][-3] == 1  # two minutes ago
    assert len(figures.throughput["minutes"]) == reading.WINDOW_MINUTES


def test_the_page_never_counts_the_whole_history(staff: Any) -> None:
    running_with_message("busy")
    client = client_for(staff)
    with CaptureQueriesContext(connection) as queries:
        client.get(PAGE)
    counts = [q["sql"] for q in queries.captured_queries if "COUNT(" in q["sql"].upper()]
    assert counts, "the page counts queued, running and recently finished tasks"
    # Each count is bounded by an indexed condition: active statuses or a recent finish.
    for sql in counts:
        assert '"status" IN' in sql or '"status" =' in sql, sql
