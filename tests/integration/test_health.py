"""Health: ``taskflow health`` exit codes and the ``/taskflow/health`` view."""

from __future__ import annotations

import json
from datetime import timedelta
from io import StringIO

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.db import connection
from django.db.migrations.loader import MigrationLoader
from django.test import Client
from django.utils import timezone

from django_taskflow import health, models
from tests import tasks
from tests.conftest import heartbeat_worker

pytestmark = pytest.mark.django_db


@pytest.fixture
def live_worker() -> None:
    """A worker of the default backend whose heartbeat is fresh."""
    heartbeat_worker()


def run_health(*args: str) -> tuple[int, str]:
    """(exit code, output) of ``taskflow health``."""
    out = StringIO()
    try:
        call_command("taskflow", "health", *args, stdout=out)
    except SystemExit as exc:
        return int(exc.code or 0), out.getvalue()
    return 0, out.getvalue()


def enqueue_waiting(seconds: float) -> str:
    """A ready task whose time came ``seconds`` ago."""
    result = tasks.noop.enqueue()
    models.Task.objects.filter(pk=result.id).update(
        run_after=timezone.now() - timedelta(seconds=seconds)
    )
    return result.id


def test_an_idle_queue_with_a_live_worker_is_healthy(live_worker: None) -> None:
    code, text = run_health()
    assert code == 0
    assert text.splitlines()[-1] == "healthy"
    assert "ok    migrations: all applied" in text
    assert "ok    workers: 1 alive" in text


def test_no_worker_alive_is_unhealthy_even_with_nothing_to_do() -> None:
    code, text = run_health()
    assert code == 3
    assert "FAIL  workers: none alive" in text


def test_a_ready_task_waiting_too_long_with_no_worker_is_exit_code_3() -> None:
    enqueue_waiting(600)
    code, text = run_health()
    assert code == 3
    assert "FAIL  ready_age: the oldest ready task has waited 600 s (limit 300 s)" in text
    assert "FAIL  workers: none alive, and 1 tasks are ready" in text
    assert text.splitlines()[-1] == "unhealthy"


def test_max_ready_age_flag_overrides_the_option(live_worker: None) -> None:
    enqueue_waiting(600)
    code, text = run_health("--max-ready-age", "15m")
    assert code == 0, text
    assert "ok    workers: 1 alive" in text
    code, _text = run_health("--max-ready-age", "60")
    assert code == 3


def test_a_paused_queue_does_not_make_the_queue_unhealthy(live_worker: None) -> None:
    enqueue_waiting(600)
    models.QueueState.objects.create(name="default", paused=True)
    assert run_health()[0] == 0


def test_unapplied_migrations_are_unhealthy() -> None:

    health._migrated.clear()
    # The latest one: marking an earlier one unapplied leaves the plan empty.
    [(_app, latest)] = MigrationLoader(connection).graph.leaf_nodes("django_taskflow")
    with connection.cursor() as cursor:
        cursor.execute(
            "DELETE FROM django_migrations WHERE app = %s AND name = %s",
            ["django_taskflow", latest],
        )
    code, text = run_health("--json")
    assert code == 3
    report = json.loads(text)
    assert report["healthy"] is False
    assert report["checks"]["migrations"] == {
        "ok": False,
        "detail": f"not applied: django_taskflow.{latest}",
    }


def test_health_json_and_quiet_output(live_worker: None) -> None:
    code, text = run_health("--json")
    assert code == 0
    assert set(json.loads(text)["checks"]) == {"database", "migrations", "workers", "ready_age"}
    assert run_health("-v", "0") == (0, "")


def test_bad_max_ready_age_is_a_usage_error() -> None:
    from django.core.management import CommandError

    with pytest.raises(CommandError, match="argument --max-ready-age"):
        run_health("--max-ready-age", "soon")


# -- the view -------------------------------------------------------------------------


def test_the_view_answers_anyone_with_the_status_code_only(
    client: Client, live_worker: None
) -> None:
    response = client.get("/taskflow/health")
    assert response.status_code == 200
    assert response.content == b""
    enqueue_waiting(600)
    response = client.get("/taskflow/health")
    assert response.status_code == 503
    assert response.content == b""


def test_the_view_gives_details_to_staff_only(client: Client, admin_user: User) -> None:
    enqueue_waiting(600)
    user = User.objects.create_user("plain", password="x")
    client.force_login(user)
    assert client.get("/taskflow/health").content == b""
    client.force_login(admin_user)
    response = client.get("/taskflow/health")
    assert response.status_code == 503
    details = response.json()
    assert details["healthy"] is False
    assert details["checks"]["ready_age"]["ok"] is False
    assert response["Cache-Control"].startswith("max-age=0")


def test_the_view_refuses_writes(client: Client) -> None:
    assert client.post("/taskflow/health").status_code == 405
