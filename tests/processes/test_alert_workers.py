"""Alert rules evaluated by real workers: one alert per incident, whichever worker evaluates."""

from __future__ import annotations

import json

import pytest

from django_taskflow import models
from tests import tasks
from tests.conftest import WorkerProcesses, wait_for
from tests.webhook_server import webhook_server

pytestmark = pytest.mark.processes


def test_two_workers_send_one_alert_per_incident_and_one_resolved(
    workers: WorkerProcesses, monkeypatch: pytest.MonkeyPatch
) -> None:
    waiting = tasks.noop.using(queue_name="reports").enqueue()  # no worker serves "reports"
    with webhook_server() as server:
        alerts = {
            "EVERY": "1s",
            "NOTIFY": {"WEBHOOK": server.url, "WEBHOOK_TIMEOUT": 5},
            "RULES": [
                {"NAME": "reports backlog", "WHEN": "queue_depth", "QUEUE": "reports", "ABOVE": 0},
                {"NAME": "reports unserved", "WHEN": "no_worker", "QUEUE": "reports"},
            ],
        }
        monkeypatch.setenv("TASKFLOW_ALERTS", json.dumps(alerts))
        first = workers.start("--queues", "default")
        second = workers.start("--queues", "default", "--pool", "thread")
        wait_for(lambda: len(server.received) >= 2, timeout=60)
        assert tasks.add.enqueue(1, 2).wait(timeout=30).return_value == 3  # tasks run all along
        models.Task.objects.filter(pk=waiting.id).delete()
        wait_for(lambda: len(server.received) >= 3, timeout=60)
        # Several more evaluations, by either worker: nothing is sent again.
        turns = models.AlertTurn.objects.get()
        wait_for(lambda: models.AlertTurn.objects.get().next_at > turns.next_at, timeout=30)
        wait_for(
            lambda: (
                models.AlertTurn.objects.get().next_at.timestamp() > turns.next_at.timestamp() + 2
            ),
            timeout=30,
        )
    assert sorted(server.states()) == [
        ("firing", "reports backlog"),
        ("firing", "reports unserved"),
        ("resolved", "reports backlog"),
    ]
    assert models.AlertIncident.objects.filter(resolved_at=None, rule="reports unserved").exists()
    logs = workers.log(first) + workers.log(second)
    assert logs.count("alert reports backlog (reports): ") == 1
