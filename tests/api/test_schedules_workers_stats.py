"""Schedules (listed and edited), live workers and the queue's figures through the API."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest

from django_taskflow import models, schedule
from django_taskflow.testing import run_tasks
from tests import tasks
from tests.api.conftest import API
from tests.conftest import heartbeat_worker

pytestmark = pytest.mark.django_db


@pytest.fixture
def nightly() -> models.Schedule:
    name = schedule(tasks.add, cron="0 3 * * *", args=(1, 2), name="nightly")
    return models.Schedule.objects.get(name=name)


def test_schedules_are_listed_with_view_schedule(
    make_user: Callable, client_for: Callable, nightly: models.Schedule
) -> None:
    assert client_for(make_user(staff=True)).get(f"{API}/schedules/").status_code == 403
    rows = client_for(make_user("view_schedule")).get(f"{API}/schedules/").json()
    assert [(row["name"], row["cron"], row["enabled"]) for row in rows] == [
        ("nightly", "0 3 * * *", True)
    ]
    assert rows[0]["args"] is None  # payload, without view_payload
    reader = make_user("view_schedule", "view_payload")
    assert client_for(reader).get(f"{API}/schedules/{nightly.pk}/").json()["args"] == [1, 2]


def test_disable_and_enable_a_schedule(
    make_user: Callable, client_for: Callable, nightly: models.Schedule
) -> None:
    url = f"{API}/schedules/{nightly.pk}/"
    assert client_for(make_user("view_schedule")).patch(url, {"enabled": False}).status_code == 403
    editor = client_for(make_user("change_schedule"))
    assert editor.patch(url, {"enabled": False}, format="json").json()["enabled"] is False
    assert models.Schedule.objects.get(pk=nightly.pk).enabled is False
    enabled = editor.patch(url, {"enabled": True}, format="json")
    assert enabled.json()["enabled"] is True
    assert enabled.json()["next_run_at"] is not None


def test_change_the_timing_moves_the_next_run(
    make_user: Callable, client_for: Callable, nightly: models.Schedule
) -> None:
    before = nightly.next_run_at
    editor = client_for(make_user("change_schedule"))
    response = editor.patch(
        f"{API}/schedules/{nightly.pk}/", {"cron": "", "interval_seconds": 60}, format="json"
    )
    assert response.status_code == 200, response.json()
    row = models.Schedule.objects.get(pk=nightly.pk)
    assert row.interval_seconds == 60
    assert row.next_run_at is not None and row.next_run_at != before
    assert row.next_run_at - row.updated_at < timedelta(seconds=61)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"cron": "61 * * * *"}, "cron"),
        ({"timezone": "Mars/Olympus"}, "timezone"),
        ({"args": [1]}, "non_field_errors"),  # add() needs b
        ({"source": "admin"}, "source"),
        ({}, "non_field_errors"),
    ],
)
def test_bad_edits_are_400s_beside_the_field(
    make_user: Callable, client_for: Callable, nightly: models.Schedule, change: dict, field: str
) -> None:
    response = client_for(make_user("change_schedule")).patch(
        f"{API}/schedules/{nightly.pk}/", change, format="json"
    )
    assert response.status_code == 400
    assert field in response.json()
    row = models.Schedule.objects.get(pk=nightly.pk)
    assert (row.cron, row.timezone, row.args) == ("0 3 * * *", nightly.timezone, [1, 2])


def test_a_code_schedule_can_only_be_enabled_or_disabled(
    make_user: Callable, client_for: Callable, nightly: models.Schedule
) -> None:
    models.Schedule.objects.filter(pk=nightly.pk).update(source=models.Source.CODE)
    editor = client_for(make_user("change_schedule"))
    url = f"{API}/schedules/{nightly.pk}/"
    refused = editor.patch(url, {"cron": "0 4 * * *"}, format="json")
    assert refused.status_code == 400
    assert "code" in refused.json()["cron"][0]
    assert editor.patch(url, {"enabled": False}, format="json").status_code == 200


def test_workers_for_staff_only(make_user: Callable, client_for: Callable) -> None:
    slot_id = heartbeat_worker(host="api-host", pid=41)
    assert client_for(make_user()).get(f"{API}/workers/").status_code == 403
    workers = client_for(make_user(staff=True)).get(f"{API}/workers/").json()
    assert [(w["worker_id"], w["slots"]) for w in workers] == [("api-host:41", [slot_id])]


def test_stats_count_by_status_and_queue(make_user: Callable, client_for: Callable) -> None:
    tasks.fail_once.enqueue()
    tasks.add.enqueue(1, 2)
    run_tasks()
    tasks.noop.using(queue_name="emails").enqueue()
    assert client_for(make_user()).get(f"{API}/stats/").status_code == 403
    figures = client_for(make_user(staff=True)).get(f"{API}/stats/").json()
    assert figures["by_queue"] == {
        "default": {"failed": 1, "succeeded": 1},
        "emails": {"queued": 1},
    }
    assert figures["by_status"]["queued"] == 1 and figures["by_status"]["failed"] == 1
    assert figures["ready"] == 1
    assert figures["finished"] == {"1": 2, "5": 2, "15": 2}
    assert figures["throughput"]["1"] == pytest.approx(2 / 60)
