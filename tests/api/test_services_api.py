"""``/services/``: reading and steering services, with the admin's permissions; bad input."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.utils import timezone

from django_taskflow import models, services
from django_taskflow.models import ServiceState
from django_taskflow.services import log
from tests import services as test_services
from tests.api.conftest import API

pytestmark = pytest.mark.django_db

SERVICES = f"{API}/services/"
HIDDEN = "the device at 10.0.0.7 refused: code 42"


@pytest.fixture
def fleet() -> None:
    """ride-42 running with one message waiting; ride-7 failed, its error holding a secret."""
    services.start("ride-42", test_services.Echo, log="/var/log/rides")
    services.send("ride-42", {"n": 1})
    log.record("default", "ride-42", log.ServiceEventKind.EMITTED, data={"lat": 12.97})
    log.record(
        "default", "ride-42", log.ServiceEventKind.ERROR, data={"handler": "x", "error": HIDDEN}
    )
    services.start("ride-7", test_services.CrashOnStart)
    error = {
        "at": timezone.now().isoformat(),
        "handler": "on_start",
        "error_class": "builtins.RuntimeError",
        "message": HIDDEN,
        "traceback": f"Traceback ...\nRuntimeError: {HIDDEN}",
    }
    models.Service.objects.filter(name="ride-7").update(state=ServiceState.FAILED, errors=[error])


@pytest.fixture
def viewer(make_user: Callable[..., Any], client_for: Callable[..., Any]) -> Any:
    return client_for(make_user("view_service", staff=True))


@pytest.fixture
def operator(make_user: Callable[..., Any], client_for: Callable[..., Any]) -> Any:
    return client_for(make_user("view_service", "steer_service", "view_payload", staff=True))


def test_list_and_detail_show_state_backlog_and_events(fleet: None, operator: Any) -> None:
    listed = operator.get(SERVICES)
    assert listed.status_code == 200
    rows = listed.json()["results"]
    assert [(r["name"], r["state"], r["backlog"]) for r in rows] == [
        ("ride-42", "running", 1),
        ("ride-7", "failed", 0),
    ]
    assert [r["name"] for r in operator.get(SERVICES, {"state": "failed"}).json()["results"]] == [
        "ride-7"
    ]
    detail = operator.get(f"{SERVICES}ride-42/").json()
    assert detail["config"] == {"log": "/var/log/rides"}
    assert [(e["kind"], e["data"]) for e in detail["recent_events"]] == [
        ("emitted", {"lat": 12.97}),
        ("error", {"handler": "x", "error": HIDDEN}),
    ]
    assert operator.get(f"{SERVICES}ride-7/").json()["errors"][0]["message"] == HIDDEN


def test_config_and_error_messages_are_payload(fleet: None, viewer: Any) -> None:
    detail = viewer.get(f"{SERVICES}ride-42/").json()
    assert detail["config"] is None
    assert [e["data"] for e in detail["recent_events"]] == [{"lat": 12.97}, {"handler": "x"}]
    failed = viewer.get(f"{SERVICES}ride-7/")
    assert HIDDEN not in failed.content.decode()
    assert failed.json()["errors"] == [
        {"at": failed.json()["errors"][0]["at"], "handler": "on_start",
         "error_class": "builtins.RuntimeError"}
    ]  # fmt: skip


def test_stop_and_restart_take_the_steer_permission(fleet: None, operator: Any) -> None:
    stopped = operator.post(f"{SERVICES}ride-42/stop/")
    assert stopped.status_code == 200
    assert stopped.json()["state"] == "stopping"
    restarted = operator.post(f"{SERVICES}ride-7/restart/")
    assert restarted.status_code == 200
    assert (restarted.json()["state"], restarted.json()["errors"]) == ("running", [])


def test_refused_actions_are_conflicts(fleet: None, operator: Any) -> None:
    running = operator.post(f"{SERVICES}ride-42/restart/")
    assert running.status_code == 409
    assert "stop it before restarting" in running.json()["detail"]
    failed = operator.post(f"{SERVICES}ride-7/stop/")
    assert failed.status_code == 409
    assert failed.json()["detail"] == "service 'ride-7' is failed: nothing to stop."
    assert services.status("ride-7").state == "failed"


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", ""),
        ("get", "ride-42/"),
        ("post", "ride-42/stop/"),
        ("post", "ride-7/restart/"),
    ],
)
def test_without_permission_nothing_is_seen_or_changed(
    fleet: None, make_user: Callable[..., Any], client_for: Callable[..., Any], method: str,
    path: str,
) -> None:  # fmt: skip
    refused = [
        (client_for(None), 403),
        (client_for(make_user()), 403),  # signed in, not staff
        (client_for(make_user(staff=True)), 403),  # staff without view_service
        (client_for(make_user("view_service", "steer_service")), 403),  # not staff
    ]
    if method == "post":
        refused.append((client_for(make_user("view_service", staff=True)), 403))  # no steer
    for client, code in refused:
        assert getattr(client, method)(f"{SERVICES}{path}").status_code == code
    assert services.status("ride-42").state == "running"
    assert services.status("ride-7").state == "failed"


@pytest.mark.parametrize(
    ("method", "path"), [("get", "ride-1/"), ("post", "ride-1/stop/"), ("post", "ride-1/restart/")]
)
def test_an_unknown_name_is_a_404(operator: Any, method: str, path: str) -> None:
    assert getattr(operator, method)(f"{SERVICES}{path}").status_code == 404


def test_an_unknown_state_filter_is_a_400(operator: Any) -> None:
    response = operator.get(SERVICES, {"state": "sleeping"})
    assert response.status_code == 400
    assert "Unknown state 'sleeping'" in response.json()["state"][0]
