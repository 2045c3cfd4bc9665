"""The Flow admin: steps with their states, cancel and resume behind permissions."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.contrib.auth.models import Permission, User
from django.test import Client
from django.urls import reverse

from django_taskflow import chain, models
from django_taskflow.testing import run_tasks
from tests import flow_tasks as ft

pytestmark = pytest.mark.django_db

CHANGELIST = "admin:django_taskflow_flow_changelist"


def staff(*codenames: str) -> Client:
    user = User.objects.create_user(f"staff{User.objects.count()}", is_staff=True)
    wanted = ("view_flow", "view_task", *codenames)
    user.user_permissions.add(*Permission.objects.filter(codename__in=wanted))
    client = Client()
    client.force_login(user)
    return client


def act(client: Client, action: str, flow_id: str) -> None:
    response = client.post(
        reverse(CHANGELIST),
        {"action": action, "_selected_action": [flow_id], "select_across": "0", "index": "0"},
    )
    assert response.status_code in (200, 302)


def test_the_flow_page_lists_steps_with_states_and_the_task_page_links_back(
    tmp_path: Path,
) -> None:
    run = chain(ft.start.s(1), ft.fail_for_good.s(), ft.add_one.s()).enqueue()
    run_tasks()
    client = staff()

    page = client.get(reverse("admin:django_taskflow_flow_change", args=[run.id])).content.decode()

    assert "#0 tests.flow_tasks.start" in page
    assert "#1 tests.flow_tasks.fail_for_good" in page
    assert "never run" in page
    assert "ValueError: no good" in page
    task_id = run.steps[0].task_id
    task_page = client.get(
        reverse("admin:django_taskflow_task_change", args=[task_id])
    ).content.decode()
    assert reverse("admin:django_taskflow_flow_change", args=[run.id]) in task_page


def test_cancel_needs_its_permission() -> None:
    run = chain(ft.start.s(1), ft.add_one.s()).enqueue()

    act(staff(), "cancel_flows", run.id)
    assert models.Flow.objects.get(pk=run.id).status == "running"

    act(staff("cancel_flow"), "cancel_flows", run.id)
    assert models.Flow.objects.get(pk=run.id).status == "cancelled"


def test_resume_needs_its_permission(tmp_path: Path) -> None:
    flag = tmp_path / "broken"
    flag.write_text("yes")
    run = chain(ft.start.s(1), ft.fail_if_file.s(str(flag))).enqueue()
    run_tasks()
    flag.unlink()

    act(staff("cancel_flow"), "resume_flows", run.id)
    assert models.Flow.objects.get(pk=run.id).status == "failed"

    act(staff("resume_flow"), "resume_flows", run.id)
    run_tasks()
    assert models.Flow.objects.get(pk=run.id).status == "succeeded"
