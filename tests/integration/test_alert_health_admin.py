"""Alerts in settings checks, ``health`` (command and function) and the admin."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from io import StringIO

import pytest
from django.conf import settings
from django.contrib.auth.models import Permission, User
from django.core import checks
from django.core.management import call_command
from django.test import Client, override_settings
from django.utils import timezone

from django_taskflow import conf, health, models
from django_taskflow.alerts import incidents
from django_taskflow.conf import Options
from django_taskflow.exceptions import InvalidQuery
from tests import tasks
from tests.conftest import heartbeat_worker

pytestmark = pytest.mark.django_db


def enqueue_ready() -> None:
    ready = tasks.noop.enqueue()
    models.Task.objects.filter(pk=ready.id).update(run_after=timezone.now() - timedelta(seconds=1))


# -- settings, health and the admin ---------------------------------------------------------


@pytest.fixture
def alerts_settings() -> Iterator[None]:
    backend = {**settings.TASKS["default"]}
    backend["OPTIONS"] = {
        **backend.get("OPTIONS", {}),
        "ALERTS": {
            "RULES": [
                {"NAME": "down", "WHEN": "no_worker"},
                {"NAME": "emails unserved", "WHEN": "no_worker", "QUEUE": "emails"},
                {"NAME": "backlog", "WHEN": "queue_depth", "QUEUE": "default", "ABOVE": 0},
            ]
        },
    }
    with override_settings(TASKS={"default": backend}):
        yield


def test_a_bad_rule_is_a_system_check_error() -> None:
    backend = {**settings.TASKS["default"]}
    backend["OPTIONS"] = {"ALERTS": {"RULES": [{"NAME": "x", "WHEN": "queue_depth"}]}}
    with override_settings(TASKS={"default": backend}):
        [error] = [m for m in checks.run_checks() if m.id == "taskflow.E002"]
    assert error.obj == "TASKS['default']['OPTIONS']['ALERTS']"
    assert "RULES[0] ('x'): queue_depth needs ABOVE, QUEUE" in error.msg


def backend_options() -> Options:
    from django.tasks import task_backends

    options: Options = task_backends["default"].config  # type: ignore[attr-defined]
    return options


def test_health_lists_open_incidents_and_fails_only_for_no_worker(alerts_settings: None) -> None:
    options = backend_options()
    assert health.check(options).as_json()["checks"]["alerts"] == {  # type: ignore[index]
        "ok": True,
        "detail": "no open incident",
    }
    enqueue_ready()
    incidents.evaluate(options, take_turn=False)
    heartbeat_worker()  # a worker for "default" is alive again...
    incidents.evaluate(options, take_turn=False)
    alerts = health.check(options).as_json()["checks"]["alerts"]  # type: ignore[index]
    assert alerts["ok"] is False  # ...but none serves "emails"
    assert alerts["detail"].startswith("2 open: ")
    assert "backlog (default): queue 'default' has more than 0 ready tasks" in alerts["detail"]
    assert "emails unserved (emails): no live worker serves queue 'emails'" in alerts["detail"]
    models.AlertIncident.objects.filter(rule="emails unserved").update(resolved_at=timezone.now())
    assert health.check(options).as_json()["checks"]["alerts"]["ok"] is True  # type: ignore[index]


def test_taskflow_health_prints_open_incidents_and_exits_3_for_an_unserved_queue(
    alerts_settings: None,
) -> None:
    heartbeat_worker()  # serves "default": the workers check passes
    incidents.evaluate(backend_options(), take_turn=False)
    out = StringIO()
    with pytest.raises(SystemExit) as exited:
        call_command("taskflow", "health", stdout=out)
    assert exited.value.code == 3
    lines = out.getvalue().splitlines()
    assert "ok    workers: 1 alive" in lines
    assert (
        "FAIL  alerts: 1 open: emails unserved (emails): no live worker serves queue 'emails'"
        in lines
    )


def test_health_has_no_alerts_check_without_alert_rules() -> None:
    assert "alerts" not in health.check(backend_options()).as_json()["checks"]  # type: ignore[operator]


def test_the_admin_shows_open_incidents_to_staff_with_view_permission(
    alerts_settings: None,
) -> None:
    options = backend_options()
    enqueue_ready()
    incidents.evaluate(options, take_turn=False)
    heartbeat_worker()
    incidents.evaluate(options, take_turn=False)  # "down" resolved; two stay open
    url = "/admin/django_taskflow/alertincident/"
    staff = User.objects.create_user("ops", password="pw", is_staff=True)
    client = Client()
    client.force_login(staff)
    assert client.get(url).status_code == 403
    staff.user_permissions.add(Permission.objects.get(codename="view_alertincident"))
    page = client.get(url).content.decode()
    assert "backlog" in page
    assert "emails unserved" in page
    assert "no worker is alive" not in page  # resolved: not in the default (open) list
    resolved = client.get(url, {"state": "resolved"}).content.decode()
    assert "cleared: no worker is alive" in resolved
    assert "backlog" not in resolved
    incident = models.AlertIncident.objects.get(rule="backlog")
    change = client.get(f"{url}{incident.pk}/change/")
    assert change.status_code == 200
    assert b'name="_save"' not in change.content  # read-only
    assert client.post(f"{url}{incident.pk}/delete/").status_code == 403


def test_the_howto_example_parses_and_its_receiver_pages_for_no_worker() -> None:
    from django_taskflow.alerts import delivery
    from django_taskflow.alerts.rules import Channels
    from testproject.docs_examples import alerts as example

    options = conf.parse_options("default", {"ALERTS": example.ALERTS})
    assert options.alerts is not None
    assert [rule.name for rule in options.alerts.rules][:2] == ["backlog", "stale"]
    notices = incidents.evaluate(options, take_turn=False)
    assert notices is not None
    assert [(n.incident.rule, n.incident.subject) for n in notices] == [
        ("nobody on emails", "emails")
    ]
    example.pages.clear()
    delivery.deliver(notices, Channels())  # the signal only: no mail, no real webhook
    assert example.pages == ["firing: no live worker serves queue 'emails'"]


def test_a_cron_evaluation_outside_the_workers_sees_that_no_worker_is_alive(
    alerts_settings: None,
) -> None:
    from django_taskflow.alerts.delivery import evaluate_and_send

    notices = evaluate_and_send()
    assert notices is not None
    assert sorted(n.incident.rule for n in notices) == ["down", "emails unserved"]
    assert evaluate_and_send() is None  # the turn is taken for EVERY, as for the workers
    with pytest.raises(InvalidQuery, match="backend must name a backend in TASKS, got 'nope'"):
        evaluate_and_send("nope")
