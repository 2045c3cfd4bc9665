"""The Schedule admin: create, edit, enable, disable, run now, and what each shows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.contrib.auth.models import Permission, User
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from django_taskflow import models, schedules
from django_taskflow.testing import run_scheduler, run_tasks
from tests import tasks

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client() -> Client:
    """A logged-in superuser without a password: hashing one costs a second a test."""
    client = Client()
    client.force_login(User.objects.create_superuser("admin", password=None))
    return client


ADD_URL = reverse("admin:django_taskflow_schedule_add")
LIST_URL = reverse("admin:django_taskflow_schedule_changelist")


def form(**changes: Any) -> dict[str, Any]:
    data = {
        "name": "nightly",
        "task_path": "tests.tasks.add",
        "args": "[1, 2]",
        "kwargs": "{}",
        "cron": "30 2 * * *",
        "interval_seconds": "",
        "timezone": "Europe/Paris",
        "window_start": "",
        "window_end": "",
        "window_days": "",
        "catch_up": "skip",
        "overlap": "skip",
        "enabled": "on",
    }
    data.update(changes)
    return {key: value for key, value in data.items() if value is not None}


def change_url(row: models.Schedule) -> str:
    return reverse("admin:django_taskflow_schedule_change", args=[row.pk])


def test_a_schedule_created_in_the_admin_runs_in_its_time_zone(admin_client: Client) -> None:
    response = admin_client.post(ADD_URL, form())
    assert response.status_code == 302, response.content.decode()[:3000]
    row = models.Schedule.objects.get()
    assert row.source == "admin" and row.enabled
    local = row.next_run_at.astimezone(row.timing.tz)  # type: ignore[union-attr]
    assert (local.hour, local.minute) == (2, 30) or (local.hour, local.minute) == (3, 0)
    page = admin_client.get(change_url(row)).content.decode()
    assert "every day at 02:30 (Europe/Paris)" in page
    assert page.count("CET") + page.count("CEST") >= 5  # the next five runs, in Paris time


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"cron": "0 9 * *"}, "cron", "must have 5 fields"),
        ({"cron": "99 9 * * *"}, "cron", "is not valid cron"),
        ({"timezone": "Europe/Atlantis"}, "timezone", "not a known time zone"),
        ({"cron": "", "interval_seconds": ""}, "cron", "Give a cron expression or an interval"),
        ({"interval_seconds": "60"}, "cron", "not both"),
        ({"task_path": "tests.tasks.nothing_here"}, "task_path", "No task named"),
        ({"args": '"x"'}, "args", "A JSON list"),
        ({"window_start": "22:00"}, "window_end", "needs both"),
        (
            {"window_start": "22:00", "window_end": "06:00", "window_days": "MON,XYZ"},
            "window_days",
            "'XYZ'",
        ),
    ],
)
def test_bad_input_is_a_form_error_beside_its_field(
    admin_client: Client, changes: dict[str, str], field: str, message: str
) -> None:
    response = admin_client.post(ADD_URL, form(**changes))
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert field in errors, errors
    assert message in " ".join(errors[field])
    assert not models.Schedule.objects.exists()


def test_arguments_that_do_not_fit_the_task_are_a_form_error(admin_client: Client) -> None:
    response = admin_client.post(ADD_URL, form(args="[1]"))
    assert response.status_code == 200
    assert "do not fit the task" in str(response.context["adminform"].form.errors)


def test_an_edit_in_the_admin_applies_at_the_next_tick(admin_client: Client) -> None:
    admin_client.post(ADD_URL, form(cron="0 9 * * *", timezone="UTC"))
    row = models.Schedule.objects.get()
    now = timezone.now()
    response = admin_client.post(
        change_url(row), form(cron="", interval_seconds="60", timezone="UTC")
    )
    assert response.status_code == 302
    row.refresh_from_db()
    assert row.interval_seconds == 60
    assert now + timedelta(seconds=59) <= row.next_run_at <= timezone.now() + timedelta(seconds=61)
    report = run_scheduler(at=row.next_run_at + timedelta(seconds=1))  # type: ignore[operator]
    assert report.fired == 1


def test_change_page_shows_last_run_its_outcome_and_the_fired_task(admin_client: Client) -> None:
    admin_client.post(ADD_URL, form(cron="* * * * *", timezone="UTC"))
    row = models.Schedule.objects.get()
    at = row.next_run_at + timedelta(seconds=1)  # type: ignore[operator]
    report = run_scheduler(at=at)
    run_tasks(now=lambda: at)
    page = admin_client.get(change_url(row)).content.decode()
    task_url = reverse("admin:django_taskflow_task_change", args=[report.task_ids[0]])
    assert task_url in page
    assert "Succeeded" in page
    listing = admin_client.get(LIST_URL).content.decode()
    assert "every minute (UTC)" in listing and "Succeeded" in listing
    runs = reverse("admin:django_taskflow_schedulerun_changelist")
    assert f"{runs}?schedule__id__exact={row.pk}" in page
    history = admin_client.get(f"{runs}?schedule__id__exact={row.pk}").content.decode()
    assert task_url in history


def test_run_history_is_read_only(admin_client: Client) -> None:
    admin_client.post(ADD_URL, form(cron="* * * * *"))
    row = models.Schedule.objects.get()
    run_scheduler(at=row.next_run_at + timedelta(seconds=1))  # type: ignore[operator]
    run = models.ScheduleRun.objects.get()
    change = reverse("admin:django_taskflow_schedulerun_change", args=[run.pk])
    page = admin_client.get(change)
    assert page.status_code == 200 and "Save" not in page.content.decode()
    assert admin_client.get(reverse("admin:django_taskflow_schedulerun_add")).status_code == 403


def test_enable_and_disable_actions(admin_client: Client) -> None:
    admin_client.post(ADD_URL, form())
    row = models.Schedule.objects.get()
    admin_client.post(LIST_URL, {"action": "disable", "_selected_action": [row.pk]})
    row.refresh_from_db()
    assert not row.enabled
    admin_client.post(LIST_URL, {"action": "enable", "_selected_action": [row.pk]})
    row.refresh_from_db()
    assert row.enabled and row.next_run_at is not None and row.next_run_at > timezone.now()


def test_delete_keeps_the_tasks_it_fired(admin_client: Client) -> None:
    admin_client.post(ADD_URL, form(cron="* * * * *"))
    row = models.Schedule.objects.get()
    run_scheduler(at=row.next_run_at + timedelta(seconds=1))  # type: ignore[operator]
    delete = reverse("admin:django_taskflow_schedule_delete", args=[row.pk])
    assert admin_client.post(delete, {"post": "yes"}).status_code == 302
    assert not models.Schedule.objects.exists()
    assert models.Task.objects.count() == 1


def staff_with(*codenames: str) -> Client:
    name = "staff-" + "-".join(codenames)
    user = User.objects.create_user(name, password=None, is_staff=True)
    for codename in codenames:
        user.user_permissions.add(Permission.objects.get(codename=codename))
    client = Client()
    client.force_login(user)
    return client


def make_row(cron: str) -> models.Schedule:
    declaration = schedules.build_declaration(tasks.add, name="n", cron=cron, args=(1, 2))
    schedules.save_runtime(declaration, using="default")
    return models.Schedule.objects.get()


def test_run_now_needs_its_own_permission() -> None:
    row = make_row("0 0 1 1 *")
    planned = row.next_planned_at
    viewer = staff_with("view_schedule", "change_schedule")
    page = viewer.get(LIST_URL).content.decode()
    assert "run_now" not in page
    response = viewer.post(LIST_URL, {"action": "run_now", "_selected_action": [row.pk]})
    assert models.Task.objects.count() == 0
    assert response.status_code in (200, 302)
    runner = staff_with("view_schedule", "run_schedule_now")
    assert "run_now" in runner.get(LIST_URL).content.decode()
    runner.post(LIST_URL, {"action": "run_now", "_selected_action": [row.pk]})
    run = models.ScheduleRun.objects.get()
    assert run.state == "fired" and run.task is not None
    row.refresh_from_db()
    assert row.next_planned_at == planned  # the schedule's own next run is unchanged


def test_staff_without_change_permission_cannot_enable_or_edit() -> None:
    row = make_row("0 0 * * *")
    viewer = staff_with("view_schedule")
    viewer.post(LIST_URL, {"action": "disable", "_selected_action": [row.pk]})
    assert models.Schedule.objects.get().enabled
    assert viewer.post(change_url(row), form(cron="5 0 * * *")).status_code == 403
    assert viewer.post(ADD_URL, form(name="other")).status_code == 403


def test_a_code_schedule_shows_its_declared_fields_read_only(admin_client: Client) -> None:
    declaration = schedules.build_declaration(tasks.add, name="c", cron="0 0 * * *", args=(1, 2))
    schedules.sync(declarations=[declaration], now=datetime(2026, 1, 1, tzinfo=UTC))
    row = models.Schedule.objects.get()
    form_fields = admin_client.get(change_url(row)).context["adminform"].form.fields
    assert "cron" not in form_fields and "enabled" in form_fields


def test_a_fired_task_links_back_to_its_schedule_and_planned_time(admin_client: Client) -> None:
    assert admin_client.post(ADD_URL, form()).status_code == 302
    row = models.Schedule.objects.get()
    planned = row.next_run_at
    assert planned is not None
    report = run_scheduler(at=planned + timedelta(seconds=1))
    [task_id] = report.task_ids
    page = admin_client.get(
        reverse("admin:django_taskflow_task_change", args=[task_id])
    ).content.decode()
    assert f'href="{change_url(row)}"' in page and row.name in page
    assert "planned for" in page
