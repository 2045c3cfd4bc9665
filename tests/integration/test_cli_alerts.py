"""``taskflow alerts``: one evaluation of the alert rules from cron, and the open incidents."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from django.conf import settings
from django.core.management.base import CommandError
from django.test import override_settings
from django.utils import timezone

from django_taskflow import models
from django_taskflow.states import Status
from tests import tasks
from tests.conftest import heartbeat_worker
from tests.taskflow_command import taskflow, taskflow_json

pytestmark = pytest.mark.django_db


@pytest.fixture
def alerts_settings() -> Iterator[None]:
    backend = {**settings.TASKS["default"]}
    backend["OPTIONS"] = {
        **backend.get("OPTIONS", {}),
        "ALERTS": {
            "RULES": [
                {"NAME": "down", "WHEN": "no_worker"},
                {"NAME": "backlog", "WHEN": "queue_depth", "QUEUE": "default", "ABOVE": 0},
            ]
        },
    }
    with override_settings(TASKS={"default": backend}):
        yield


def free_the_turn() -> None:
    """As if the evaluation interval (EVERY) had passed since the last evaluation."""
    models.AlertTurn.objects.update(next_at=timezone.now() - timedelta(seconds=1))


def test_alerts_evaluates_once_per_turn_and_lists_open_incidents(alerts_settings: None) -> None:
    ready = tasks.noop.enqueue()
    models.Task.objects.filter(pk=ready.id).update(run_after=timezone.now() - timedelta(seconds=1))

    text = taskflow("alerts")
    assert text.splitlines()[0] == "evaluated 2 rules: 2 opened, 0 resolved"
    assert "no worker is alive" in text
    assert "queue 'default' has more than 0 ready tasks" in text

    # Within EVERY a worker or an earlier run has the turn: nothing is sent twice.
    found = taskflow_json("alerts")
    assert found["evaluated"] is False
    assert found["sent"] == []
    assert sorted((i["rule"], i["state"]) for i in found["open"]) == [
        ("backlog", "firing"),
        ("down", "firing"),
    ]

    heartbeat_worker()
    models.Task.objects.filter(pk=ready.id).update(
        status=Status.SUCCEEDED, finished_at=timezone.now()
    )
    assert taskflow_json("alerts", "--no-evaluate")["evaluated"] is False
    free_the_turn()
    found = taskflow_json("alerts")
    assert found["evaluated"] is True
    assert sorted((n["rule"], n["state"]) for n in found["sent"]) == [
        ("backlog", "resolved"),
        ("down", "resolved"),
    ]
    assert found["open"] == []
    free_the_turn()
    assert taskflow("alerts").splitlines() == [
        "evaluated 2 rules: 0 opened, 0 resolved",
        "no open incident",
    ]


def test_no_evaluate_only_lists(alerts_settings: None) -> None:
    assert taskflow("alerts", "--no-evaluate").splitlines() == [
        "not evaluated (--no-evaluate)",
        "no open incident",
    ]
    assert not models.AlertIncident.objects.exists()


def test_alerts_without_rules_or_with_a_bad_backend_is_an_error() -> None:
    with pytest.raises(CommandError, match=r"TASKS\['default'\]\['OPTIONS'\] has no ALERTS"):
        taskflow("alerts")
    with pytest.raises(CommandError, match="--backend 'nope' is not in TASKS"):
        taskflow("alerts", "--backend", "nope")
