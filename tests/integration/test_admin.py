"""The admin shows task history with every attempt, read-only."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission, User
from django.test import Client
from django.urls import reverse

from django_taskflow import models
from django_taskflow.testing import run_tasks
from tests import tasks

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
