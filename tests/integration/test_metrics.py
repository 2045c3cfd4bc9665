"""``/taskflow/metrics``: what it counts, who may read it, and that counts never fall."""

from __future__ import annotations

import sys
from datetime import timedelta
from io import StringIO
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.db import connection
from django.test import Client
from django.utils import timezone

from django_taskflow import db, models, recovery, transitions
from django_taskflow.execution import outcome
from django_taskflow.testing import run_tasks
from tests import tasks
from tests.conftest import claim_for, heartbeat_worker
from tests.scrape import TOKEN, scrape, value, with_token

pytestmark = pytest.mark.django_db


def test_counters_after_running_tasks_count_successes_failures_and_retries() -> None:
    for i in range(3):
        tasks.add.enqueue(i, i)
    tasks.fail_always.enqueue()  # three attempts: two retried, the last fails
    tasks.fail_until_attempt.enqueue(2)  # one retried, then succeeds
    run_tasks()

    samples = scrape()

    add, fail, flaky = (
        "tests.tasks.add",
        "tests.tasks.fail_always",
        "tests.tasks.fail_until_attempt",
    )
    assert value(samples, "taskflow_task_successes_total", task=add) == 3
    assert value(samples, "taskflow_task_failures_total", task=add) == 0
    assert value(samples, "taskflow_task_retries_total", task=fail) == 2
    assert value(samples, "taskflow_task_failures_total", task=fail) == 1
    assert value(samples, "taskflow_task_successes_total", task=fail) == 0
    assert value(samples, "taskflow_task_retries_total", task=flaky) == 1
    assert value(samples, "taskflow_task_successes_total", task=flaky) == 1
    assert value(samples, "taskflow_task_timeouts_total", task=flaky) == 0
    assert value(samples, "taskflow_attempts_total", task=fail, outcome="failed") == 3
    # Every attempt the recorder wrote is timed.
    assert value(samples, "taskflow_attempt_duration_seconds_count", task=add) == 3
    assert value(samples, "taskflow_attempt_duration_seconds_count", task=fail) == 3
    assert value(samples, "taskflow_attempt_duration_seconds_bucket", task=add, le="+Inf") == 3
    assert value(samples, "taskflow_attempt_duration_seconds_sum", task=add) >= 0


def test_the_histogram_puts_each_attempt_in_its_duration_bucket(tmp_path: Path) -> None:
    tasks.record_run.enqueue(str(tmp_path / "runs.log"), 0.3)
    tasks.add.enqueue(1, 1)
    run_tasks()

    samples = scrape()

    slow = "tests.tasks.record_run"
    bucket = "taskflow_attempt_duration_seconds_bucket"
    assert value(samples, bucket, task=slow, le="0.25") == 0
    assert value(samples, bucket, task=slow, le="3600.0") == 1
    assert value(samples, bucket, task=slow, le="+Inf") == 1
    assert value(samples, "taskflow_attempt_duration_seconds_sum", task=slow) >= 0.3
    assert value(samples, bucket, task="tests.tasks.add", le="+Inf") == 1


def test_an_attempt_longer_than_the_last_bound_counts_in_the_last_bucket_only() -> None:
    tasks.add.enqueue(1, 1)
    [claimed] = claim_for("host:1:0")
    finished = timezone.now()
    long_attempt = transitions.Completion(
        task=claimed,
        outcome=outcome.succeeded("2"),
        started_at=finished - timedelta(hours=2),
        finished_at=finished,
    )
    kept, _events = transitions.record_batch("default", "host:1:0", [long_attempt])
    assert kept == [long_attempt]

    samples = scrape()

    bucket = "taskflow_attempt_duration_seconds_bucket"
    assert value(samples, bucket, task="tests.tasks.add", le="3600.0") == 0
    assert value(samples, bucket, task="tests.tasks.add", le="+Inf") == 1
    assert value(samples, "taskflow_attempt_duration_seconds_sum", task="tests.tasks.add") == 7200


def test_a_count_spread_over_shards_is_served_as_their_sum() -> None:
    add = ("default", "tests.tasks.add", "succeeded", "succeeded", 0.005)
    with connection.cursor() as cursor:
        for shard, attempts in ((0, 2), (5, 3)):
            db.add_counts(
                cursor,
                table=models.TaskCounter._meta.db_table,
                rows=[(*add, shard, attempts, 0.001 * attempts)],
            )
        db.add_counts(cursor, table=models.TaskCounter._meta.db_table, rows=[(*add, 5, 1, 0.0)])

    samples = scrape()

    assert value(samples, "taskflow_task_successes_total", task="tests.tasks.add") == 6
    assert models.TaskCounter.objects.count() == 2


def test_a_slot_killed_at_the_hard_limit_counts_a_timeout_without_a_duration() -> None:
    result = tasks.never_ends.enqueue("unused")  # max_attempts=2
    [claimed] = claim_for("host:1:0")
    assert recovery.time_out(
        "default", "host:1:0", claimed.id, attempt=1, hard_limit=1, now=timezone.now()
    )

    samples = scrape()

    name = "tests.tasks.never_ends"
    assert value(samples, "taskflow_task_timeouts_total", task=name) == 1
    assert value(samples, "taskflow_task_retries_total", task=name) == 1
    assert value(samples, "taskflow_attempts_total", task=name, outcome="timed_out") == 1
    assert value(samples, "taskflow_attempt_duration_seconds_count", task=name) == 0
    assert models.Task.objects.get(pk=result.id).status == "queued"


def test_gauges_show_depth_ready_age_workers_running_and_stuck() -> None:
    heartbeat_worker()
    waiting = tasks.add.enqueue(1, 1)
    models.Task.objects.filter(pk=waiting.id).update(
        run_after=timezone.now() - timedelta(seconds=600)
    )
    tasks.add.using(run_after=timezone.now() + timedelta(hours=1)).enqueue(2, 2)  # not ready yet
    tasks.add.using(queue_name="emails").enqueue(3, 3)
    # Claimed by a worker that died long ago: running, and stuck.
    [stuck] = claim_for("gone:1:0")
    models.Task.objects.filter(pk=stuck.id).update(
        lease_expires_at=timezone.now() - timedelta(hours=1)
    )

    samples = scrape()

    assert value(samples, "taskflow_queue_depth", queue="default", status="queued") == 1
    assert value(samples, "taskflow_queue_depth", queue="default", status="running") == 1
    assert value(samples, "taskflow_queue_depth", queue="emails", status="queued") == 1
    assert value(samples, "taskflow_queue_depth", queue="reports", status="queued") == 0
    assert value(samples, "taskflow_queue_ready", queue="default") == 0
    assert value(samples, "taskflow_queue_ready", queue="emails") == 1
    assert value(samples, "taskflow_queue_oldest_ready_age_seconds", queue="reports") == 0
    assert value(samples, "taskflow_workers_up") == 1
    assert value(samples, "taskflow_tasks_running") == 1
    assert value(samples, "taskflow_tasks_stuck") == 1


def test_the_oldest_ready_age_is_per_queue() -> None:
    old = tasks.add.enqueue(1, 1)
    models.Task.objects.filter(pk=old.id).update(run_after=timezone.now() - timedelta(seconds=600))
    tasks.add.using(queue_name="emails").enqueue(1, 1)

    samples = scrape()

    assert 600 <= value(samples, "taskflow_queue_oldest_ready_age_seconds", queue="default") < 900
    assert value(samples, "taskflow_queue_oldest_ready_age_seconds", queue="emails") < 300
    assert value(samples, "taskflow_queue_ready", queue="default") == 1


def test_pruning_never_lowers_the_counters() -> None:
    for i in range(4):
        tasks.add.enqueue(i, i)
    tasks.fail_always.enqueue()
    run_tasks()
    before = scrape()
    models.Task.objects.update(finished_at=timezone.now() - timedelta(days=40))

    call_command("taskflow", "prune", "--older-than", "30d", stdout=StringIO())

    assert not models.Task.objects.exists()
    after = scrape()
    counted = {key: v for key, v in before.items() if key[0].startswith("taskflow_task")}
    assert counted
    assert {key: after[key] for key in counted} == counted
    assert value(after, "taskflow_task_successes_total", task="tests.tasks.add") == 4


# -- who may read them ----------------------------------------------------------------


def test_anonymous_requests_are_refused_with_a_bearer_challenge(client: Client) -> None:
    with with_token(TOKEN):
        response = client.get("/taskflow/metrics")
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == 'Bearer realm="taskflow metrics"'
    assert b"taskflow_" not in response.content


def test_a_wrong_token_is_refused(client: Client) -> None:
    with with_token(TOKEN):
        response = client.get("/taskflow/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}x")
        assert response.status_code == 401
        assert 'error="invalid_token"' in response["WWW-Authenticate"]
        assert client.get("/taskflow/metrics", HTTP_AUTHORIZATION=TOKEN).status_code == 401


def test_a_token_is_refused_when_none_is_configured(client: Client) -> None:
    response = client.get("/taskflow/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert response.status_code == 401


def test_a_signed_in_user_who_is_not_staff_is_forbidden(client: Client) -> None:
    client.force_login(User.objects.create_user("plain", password="x"))
    assert client.get("/taskflow/metrics").status_code == 403


def test_staff_read_the_metrics_with_their_session(client: Client, admin_user: User) -> None:
    client.force_login(admin_user)
    response = client.get("/taskflow/metrics")
    assert response.status_code == 200
    assert "taskflow_workers_up" in response.content.decode()
    assert response["Cache-Control"].startswith("max-age=0")


def test_a_scraper_may_ask_for_openmetrics(client: Client, admin_user: User) -> None:
    client.force_login(admin_user)
    response = client.get("/taskflow/metrics", HTTP_ACCEPT="application/openmetrics-text")
    assert response["Content-Type"].startswith("application/openmetrics-text")
    assert response.content.decode().endswith("# EOF\n")


def test_the_view_refuses_writes(client: Client, admin_user: User) -> None:
    client.force_login(admin_user)
    assert client.post("/taskflow/metrics").status_code == 405


def test_without_prometheus_client_the_view_says_what_to_install(
    client: Client, admin_user: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "prometheus_client", None)  # import fails
    client.force_login(admin_user)
    response = client.get("/taskflow/metrics")
    assert response.status_code == 501
    assert b"django-taskflow-queue[metrics]" in response.content
