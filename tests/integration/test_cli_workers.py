"""``manage.py taskflow workers``: each worker's row, alive or gone."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from django_taskflow import models
from tests.conftest import heartbeat_worker
from tests.taskflow_command import taskflow, taskflow_json

pytestmark = pytest.mark.django_db


def test_workers_lists_each_worker_with_its_slots_and_whether_it_is_alive() -> None:
    alive_slot = heartbeat_worker("web-1", 41)
    heartbeat_worker("web-2", 42)
    models.WorkerProcess.objects.filter(host="web-2").update(
        alive_until=timezone.now() - timedelta(seconds=1),
        running_task_ids=["0190a0a0-0000-7000-8000-000000000000"],
    )
    alive, gone = taskflow_json("workers")
    assert (alive["worker_id"], alive["host"], alive["pid"], alive["state"]) == (
        "web-1:41",
        "web-1",
        41,
        "alive",
    )
    assert alive["queues"] == ["default"] and alive["capabilities"] == []
    assert (alive["slots"], alive["slot_ids"], alive["running_task_ids"]) == (1, [alive_slot], [])
    assert alive["started_at"] and alive["last_heartbeat"]
    assert (gone["worker_id"], gone["state"]) == ("web-2:42", "gone")
    assert gone["running_task_ids"] == ["0190a0a0-0000-7000-8000-000000000000"]


def test_workers_table_has_a_row_per_worker() -> None:
    heartbeat_worker("web-1", 41)
    header, row = taskflow("workers").splitlines()
    assert header.split()[:4] == ["WORKER", "HOST", "PID", "NAME"]
    assert "LAST HEARTBEAT" in header and header.rstrip().endswith("STATE")
    assert row.split()[:7] == ["web-1:41", "web-1", "41", "web-1", "default", "1", "0"]
    assert row.rstrip().endswith("alive")


def test_workers_of_other_backends_are_left_out_and_none_is_said_so() -> None:
    heartbeat_worker("web-1", 41)
    models.WorkerProcess.objects.update(backend="other")
    assert taskflow("workers") == "no workers\n"
    assert taskflow("workers", "-v", "0") == ""
    assert taskflow_json("workers") == []
