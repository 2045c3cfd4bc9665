"""``taskflow services list|show|stop|restart``: services from a shell, and bad input."""

from __future__ import annotations

import pytest
from django.core.management.base import CommandError
from django.utils import timezone

from django_taskflow import models, services
from django_taskflow.models import ServiceState
from django_taskflow.services import log
from tests import services as test_services
from tests.taskflow_command import taskflow, taskflow_json

pytestmark = pytest.mark.django_db


@pytest.fixture
def fleet() -> None:
    """ride-42 running with a backlog of two and an event; ride-7 failed with an error."""
    services.start("ride-42", test_services.Echo, log=None)
    services.send("ride-42", {"n": 1})
    services.send("ride-42", {"n": 2})
    log.record("default", "ride-42", log.ServiceEventKind.EMITTED, data={"lat": 12.97})
    services.start("ride-7", test_services.CrashOnStart)
    error = {
        "at": timezone.now().isoformat(),
        "handler": "on_start",
        "error_class": "builtins.RuntimeError",
        "message": "cannot reach the device",
        "traceback": "Traceback (most recent call last): ...",
    }
    models.Service.objects.filter(name="ride-7").update(
        state=ServiceState.FAILED, errors=[error], restarts=3
    )


def test_list_shows_each_service_with_its_state_and_backlog(fleet: None) -> None:
    rows = taskflow_json("services", "list")
    assert [(r["name"], r["state"], r["backlog"], r["restarts"]) for r in rows] == [
        ("ride-42", "running", 2, 0),
        ("ride-7", "failed", 0, 3),
    ]
    assert [r["name"] for r in taskflow_json("services", "list", "--state", "failed")] == ["ride-7"]
    table = taskflow("services", "list")
    assert table.splitlines()[0].split()[:4] == ["NAME", "STATE", "OWNER", "BACKLOG"]
    assert "tests.services.Echo" in table
    assert "no stopped services" in taskflow("services", "list", "--state", "stopped")


def test_show_gives_status_errors_and_events(fleet: None) -> None:
    shown = taskflow_json("services", "show", "ride-42")
    assert shown["state"] == "running"
    assert shown["config"] == {"log": None}
    assert [(e["kind"], e["data"]) for e in shown["events"]] == [("emitted", {"lat": 12.97})]
    text = taskflow("services", "show", "ride-7")
    assert "builtins.RuntimeError in on_start: cannot reach the device" in text
    assert "Traceback" not in text
    assert "Traceback" in taskflow("services", "show", "ride-7", "-v", "2")


def test_stop_and_restart_steer_by_name(fleet: None) -> None:
    assert "stopping" in taskflow("services", "stop", "ride-42")
    assert services.status("ride-42").state == "stopping"
    assert "left as it was" in taskflow("services", "stop", "ride-7")
    restarted = taskflow_json("services", "restart", "ride-7")
    assert (restarted["state"], restarted["restarts"], restarted["errors"]) == ("running", 0, [])


def test_restart_of_a_running_service_is_refused(fleet: None) -> None:
    with pytest.raises(CommandError, match="'ride-42' is running; stop it before restarting"):
        taskflow("services", "restart", "ride-42")


@pytest.mark.parametrize("action", ["show", "stop", "restart"])
def test_an_unknown_name_is_a_clear_error(action: str) -> None:
    with pytest.raises(CommandError, match="no service named 'ride-1' was started"):
        taskflow("services", action, "ride-1")


def test_bad_usage_is_refused_with_the_choices() -> None:
    with pytest.raises(CommandError, match="invalid choice: 'sleeping'"):
        taskflow("services", "list", "--state", "sleeping")
    with pytest.raises(CommandError, match="the following arguments are required: NAME"):
        taskflow("services", "stop")
    with pytest.raises(CommandError, match="required: action"):
        taskflow("services")
