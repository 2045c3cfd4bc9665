"""Alert rules evaluated by real workers: one alert per incident, whichever worker evaluates."""

from __future__ import annotations

import json

import pytest

from django_taskflow import models, worker_status
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


def test_a_hanging_webhook_holds_up_neither_tasks_nor_the_workers_heartbeat(
    workers: WorkerProcesses, monkeypatch: pytest.MonkeyPatch
) -> None:
    with webhook_server(delay=120) as server:
        alerts = {
            "EVERY": "1s",
            "NOTIFY": {"WEBHOOK": server.url, "WEBHOOK_TIMEOUT": 10},
            "RULES": [{"NAME": "reports unserved", "WHEN": "no_worker", "QUEUE": "reports"}],
        }
        monkeypatch.setenv("TASKFLOW_ALERTS", json.dumps(alerts))
        # Heartbeats every 2 s: the worker counts as gone after 6 s without one.
        workers.start("--queues", "default", lease_seconds=6)
        wait_for(lambda: len(server.received) == 1, timeout=60)  # the supervisor now waits
        assert tasks.add.enqueue(2, 3).wait(timeout=30).return_value == 5
        for _ in range(3):  # across the 10 s timeout, cut to the 2 s budget
            beat = models.WorkerProcess.objects.get().last_heartbeat
            wait_for(
                lambda b=beat: models.WorkerProcess.objects.get().last_heartbeat > b, timeout=5
            )
        assert worker_status.workers_alive().count() == 1
