"""operations.run_schedule_now: one run of a schedule now, from Python, the admin or a shell."""

from __future__ import annotations

import logging

import pytest
from asgiref.sync import async_to_sync
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse

from django_taskflow import models, operations
from django_taskflow.exceptions import InvalidSchedule

pytestmark = pytest.mark.django_db


def test_run_schedule_now_enqueues_one_run_by_name_and_keeps_the_timing(
    caplog: pytest.LogCaptureFixture,
) -> None:
    schedule = models.Schedule.objects.create(
        name="nightly", task_path="tests.tasks.noop", cron="0 3 * * *", timezone="UTC"
    )
    with caplog.at_level(logging.INFO, logger="django_taskflow.operations"):
        run = operations.run_schedule_now("nightly", by="erin")
    assert run is not None and run.state == models.RunState.FIRED
    assert models.Task.objects.get(pk=run.task_id).task_path == "tests.tasks.noop"
    schedule.refresh_from_db()
    assert (schedule.next_run_at, schedule.last_run_at) == (None, None)
    assert "schedule nightly run now by erin: fired" in caplog.text
    again = async_to_sync(operations.arun_schedule_now)(schedule, by="erin")
    assert again is not None and again.task_id != run.task_id


def test_run_schedule_now_reports_a_task_it_cannot_enqueue_and_refuses_unknown_names() -> None:
    models.Schedule.objects.create(
        name="broken", task_path="tests.tasks.gone_away", cron="0 3 * * *", timezone="UTC"
    )
    run = operations.run_schedule_now("broken")
    assert run is not None and run.state == models.RunState.FAILED and "gone_away" in run.note
    with pytest.raises(InvalidSchedule, match="No schedule is named 'nope'"):
        operations.run_schedule_now("nope")


def test_the_admins_run_now_goes_through_operations_recording_the_user(
    caplog: pytest.LogCaptureFixture,
) -> None:
    models.Schedule.objects.create(
        name="nightly", task_path="tests.tasks.noop", cron="0 3 * * *", timezone="UTC"
    )
    superuser = User.objects.create_superuser("frank")
    client = Client()
    client.force_login(superuser)
    with caplog.at_level(logging.INFO, logger="django_taskflow.operations"):
        client.post(
            reverse("admin:django_taskflow_schedule_changelist"),
            {"action": "run_now", "_selected_action": [models.Schedule.objects.get().pk]},
        )
    assert models.ScheduleRun.objects.get().state == models.RunState.FIRED
    assert "schedule nightly run now by frank: fired" in caplog.text


def test_enable_and_disable_change_only_the_schedules_in_the_other_state(
    caplog: pytest.LogCaptureFixture,
) -> None:
    from datetime import UTC, datetime, timedelta

    hourly = models.Schedule.objects.create(
        name="hourly", task_path="tests.tasks.noop", cron="0 * * * *", timezone="UTC"
    )
    off = models.Schedule.objects.create(
        name="off",
        task_path="tests.tasks.noop",
        interval_seconds=600,
        timezone="UTC",
        enabled=False,
    )
    rows = list(models.Schedule.objects.order_by("name"))
    with caplog.at_level(logging.INFO, logger="django_taskflow.operations"):
        assert operations.disable_schedules(rows, by="erin") == 1
    assert "1 schedule(s) disabled by erin" in caplog.text
    assert not models.Schedule.objects.filter(enabled=True).exists()
    # A stale row (read before another operator enabled the schedule) changes nothing twice.
    stale = models.Schedule.objects.get(pk=off.pk)
    now = datetime(2026, 5, 1, 12, 30, tzinfo=UTC)
    assert operations.enable_schedules(models.Schedule.objects.all(), now=now) == 2
    assert operations.enable_schedules([stale], now=now) == 0
    hourly.refresh_from_db()
    off.refresh_from_db()
    assert hourly.enabled and hourly.next_run_at == datetime(2026, 5, 1, 13, 0, tzinfo=UTC)
    # Planned afresh from now: the runs missed while disabled are not made up.
    assert off.enabled and off.next_run_at == now + timedelta(seconds=600)
