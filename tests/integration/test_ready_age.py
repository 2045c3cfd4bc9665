"""The age of the oldest ready task, read through the claim and gate indexes."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from django.utils import timezone

from django_taskflow import models, operations, stats
from django_taskflow.conf import Options
from django_taskflow.states import Status
from tests import tasks

pytestmark = pytest.mark.django_db

NOW = timezone.now().replace(microsecond=0)


@pytest.fixture
def options() -> Options:
    from django_taskflow.cli.backend import backend_options

    return backend_options("default")


def queued(minutes_ago: float, **fields: Any) -> datetime:
    """A queued task whose time came ``minutes_ago`` minutes before NOW; its run_after."""
    run_after = NOW - timedelta(minutes=minutes_ago)
    result = tasks.noop.enqueue()
    models.Task.objects.filter(pk=result.id).update(run_after=run_after, **fields)
    return run_after


def test_no_task_queued_has_no_oldest(options: Options) -> None:
    assert stats.oldest_ready_at(options, "default", NOW) is None
    assert stats.oldest_ready_age(options, "default", NOW) is None


def test_the_oldest_is_found_across_priorities_and_gates(options: Options) -> None:
    queued(5, priority=10)
    oldest = queued(30, priority=-20)
    queued(10, priority=0)
    queued(20, priority=0, gate_key="cap:tests")
    assert stats.oldest_ready_at(options, "default", NOW) == oldest
    assert stats.oldest_ready_age(options, "default", NOW) == 30 * 60


def test_a_gated_task_can_be_the_oldest(options: Options) -> None:
    queued(5, priority=3)
    queued(40, gate_key="cap:a")
    oldest = queued(50, priority=7, gate_key="cap:b")
    queued(1, gate_key="cap:b")
    assert stats.oldest_ready_at(options, "default", NOW) == oldest


def test_tasks_not_ready_are_left_out(options: Options) -> None:
    queued(-5, priority=1)  # its time has not come
    queued(-10, gate_key="cap:a")
    queued(60, status=Status.SUCCEEDED)
    queued(60, status=Status.RUNNING)
    queued(60, backend="other")
    assert stats.oldest_ready_at(options, "default", NOW) is None
    ready = queued(2, priority=1)
    assert stats.oldest_ready_at(options, "default", NOW) == ready


def test_per_queue_and_paused_queues(options: Options) -> None:
    in_low = queued(30, queue_name="low")
    in_emails = queued(20, queue_name="emails", gate_key="cap:mail")
    in_default = queued(10)
    assert stats.oldest_ready_at(options, "default", NOW, queue="emails") == in_emails
    assert stats.oldest_ready_at(options, "default", NOW, queue="default") == in_default
    assert stats.oldest_ready_at(options, "default", NOW, queue="reports") is None
    operations.pause_queue("low")
    assert stats.oldest_ready_at(options, "default", NOW) == in_emails
    assert stats.oldest_ready_at(options, "default", NOW, queue="low") is None
    operations.resume_queue("low")
    assert stats.oldest_ready_at(options, "default", NOW) == in_low


@pytest.mark.django_db(transaction=True)
def test_on_sqlite_reading_it_never_waits_for_the_write_lock(options: Options) -> None:
    import sqlite3

    from django.db import connection

    if connection.vendor != "sqlite":
        pytest.skip("SQLite's single write lock")
    oldest = queued(3)
    connection.ensure_connection()
    connection.connection.execute("PRAGMA busy_timeout = 100")  # fail fast instead of waiting
    writer = sqlite3.connect(connection.settings_dict["NAME"], isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")  # a worker's write transaction holds the lock
    try:
        assert stats.oldest_ready_at(options, "default", NOW) == oldest
    finally:
        writer.execute("ROLLBACK")
        writer.close()
