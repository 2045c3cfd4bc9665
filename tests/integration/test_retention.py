"""Pruning: ``taskflow prune``, ``operations.prune``, and workers' turns by RETENTION."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.test import override_settings
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from django_taskflow import models, operations, retention
from django_taskflow.exceptions import InvalidQuery
from django_taskflow.worker.retention_duty import RetentionDuty
from tests import finished_rows, tasks

pytestmark = pytest.mark.django_db

type MakeFinished = Callable[..., list[str]]


@pytest.fixture
def make_finished() -> MakeFinished:
    """Builder: ``count`` finished tasks of ``status``, ``age`` ago, each with an attempt and two events."""
    return finished_rows.make_finished


remaining = finished_rows.remaining


def test_prune_deletes_old_tasks_with_their_attempts_and_events(
    make_finished: MakeFinished,
) -> None:
    old = make_finished(7)
    recent = make_finished(2, age=timedelta(days=1))
    report = operations.prune(timedelta(days=30))
    assert report.deleted == {"cancelled": 0, "failed": 0, "succeeded": 7}
    assert remaining(old) == (0, 0, 0)
    assert remaining(recent) == (2, 2, 4)


def test_prune_works_in_chunks_of_short_transactions(make_finished: MakeFinished) -> None:
    old = make_finished(25)
    report = retention.prune(timedelta(days=30), chunk_size=10)
    assert report.total == 25
    # 10, 10, 5 succeeded; one empty look at each other status, at each status's
    # finished flows, at service events, dead messages and ended services, and at
    # the expired dedup keys
    assert report.chunks == 3 + 2 + 3 + 3 + 1
    assert remaining(old) == (0, 0, 0)


def test_a_chunk_reads_the_finished_index_and_loads_no_rows(make_finished: MakeFinished) -> None:
    make_finished(3)
    with CaptureQueriesContext(connection) as queries:
        retention.prune_chunk("default", "default", "succeeded", timezone.now(), 100)
    sql = [q["sql"] for q in queries.captured_queries]
    deletes = [s for s in sql if s.lstrip().upper().startswith("DELETE")]
    assert len(deletes) == 3  # tasks (with RETURNING), attempts, events
    assert "ORDER BY finished_at LIMIT" in deletes[0]
    assert not any(s.lstrip().upper().startswith("SELECT") for s in sql)


def test_prune_keeps_queued_and_running_tasks_and_other_statuses(
    make_finished: MakeFinished,
) -> None:
    failed = make_finished(2, status="failed")
    cancelled = make_finished(2, status="cancelled")
    queued = make_finished(1, status="queued")
    report = retention.prune(timedelta(days=30), status=["cancelled"])
    assert report.total == 2
    assert remaining(cancelled)[0] == 0
    assert remaining(failed)[0] == 2
    assert remaining(queued)[0] == 1
    with pytest.raises(InvalidQuery, match="queued and running tasks are never pruned"):
        retention.prune(timedelta(days=30), status="queued")
    with pytest.raises(InvalidQuery, match="older_than must be a positive timedelta"):
        retention.prune(timedelta(0))


def test_a_pruned_scheduled_task_leaves_its_schedule_run(make_finished: MakeFinished) -> None:
    [task_id] = make_finished(1)
    schedule = models.Schedule.objects.create(
        name="s", task_path="tests.tasks.noop", cron="0 0 * * *", timezone="UTC"
    )
    run = models.ScheduleRun.objects.create(
        schedule=schedule, planned_at=timezone.now(), fired_at=timezone.now(), state="fired",
        task_id=task_id,
    )  # fmt: skip
    retention.prune(timedelta(days=30))
    run.refresh_from_db()
    assert run.task_id is None


def taskflow(*args: str) -> str:
    out = StringIO()
    call_command("taskflow", *args, stdout=out)
    return out.getvalue()


def test_prune_command_with_dry_run_then_for_real(make_finished: MakeFinished) -> None:
    succeeded = make_finished(3)
    failed = make_finished(2, status="failed")
    cancelled = make_finished(1, status="cancelled")
    assert json.loads(
        taskflow(
            "prune", "--older-than", "30d", "--status", "succeeded,cancelled", "--dry-run", "--json"
        )
    ) == {
        "would_delete": {"succeeded": 3, "cancelled": 1},
        "total": 4,
        "flows": 0,
        "expired_dedup_keys": 0,
        "services": 0,
        "service_events": 0,
        "dead_service_messages": 0,
    }
    assert remaining(succeeded)[0] == 3
    text = taskflow(
        "prune", "--older-than", "30d", "--status", "succeeded,cancelled", "--chunk-size", "2"
    )
    assert text == "deleted 4 tasks (succeeded: 3, cancelled: 1)\n"
    assert remaining(succeeded + cancelled) == (0, 0, 0)
    assert remaining(failed)[0] == 2


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--older-than", "30"], "argument --older-than: '30' is not a duration"),
        (["--older-than", "30d", "--status", "running"], "running tasks are never pruned"),
        (["--older-than", "30d", "--status", "finished"], "unknown status 'finished'"),
        (["--older-than", "30d", "--chunk-size", "0"], "at least 1"),
        (["--status", "failed"], "--status needs --older-than"),
        ([], "Give --older-than"),
    ],
)
def test_prune_command_refuses_bad_input(args: list[str], message: str) -> None:
    with pytest.raises(CommandError, match=message):
        taskflow("prune", *args)


def retention_settings(retention_value: dict[str, str]) -> override_settings:
    from django.conf import settings

    backend = {**settings.TASKS["default"]}
    backend["OPTIONS"] = {**backend.get("OPTIONS", {}), "RETENTION": retention_value}
    return override_settings(TASKS={"default": backend})


def test_prune_command_without_older_than_follows_retention(make_finished: MakeFinished) -> None:
    old_ok = make_finished(2, age=timedelta(days=8))
    old_failed = make_finished(2, status="failed", age=timedelta(days=8))
    with retention_settings({"succeeded": "7d", "failed": "30d"}):
        assert taskflow("prune") == "deleted 2 tasks (failed: 0, succeeded: 2)\n"
    assert remaining(old_ok)[0] == 0
    assert remaining(old_failed)[0] == 2


def test_a_bad_retention_is_a_system_check_error() -> None:
    from django.core import checks

    with retention_settings({"succeeded": "a week"}):
        errors = [m for m in checks.run_checks() if m.id == "taskflow.E002"]
    [error] = errors
    assert error.obj == "TASKS['default']['OPTIONS']['RETENTION']"
    assert "'a week' is not a duration" in error.msg


# -- the workers' turn ----------------------------------------------------------------


def test_one_worker_at_a_time_takes_the_turn() -> None:
    assert retention.take_turn("default", "default", "a")
    assert not retention.take_turn("default", "default", "b")
    models.PruneTurn.objects.update(next_at=timezone.now() - timedelta(seconds=1))
    assert retention.take_turn("default", "default", "b")
    assert models.PruneTurn.objects.get().holder == "b"


def test_the_duty_prunes_chunk_by_chunk_during_its_turn_then_waits(
    make_finished: MakeFinished,
) -> None:
    old_ok = make_finished(5)
    old_failed = make_finished(3, status="failed")
    young = make_finished(2, age=timedelta(hours=1))
    clock = [0.0]
    duty = RetentionDuty(
        database="default",
        backend="default",
        retention_by_status={"succeeded": timedelta(days=7), "failed": timedelta(days=7)},
        holder="host:1",
        chunk_size=2,
        clock=lambda: clock[0],
    )
    passes = []
    while True:
        deleted = duty.run_if_due()
        if deleted is None:
            break
        passes.append(deleted)
        clock[0] = max(clock[0], clock[0] + duty.due_in())
    assert sum(passes) == 8
    assert max(passes) <= 3  # one full chunk per pass, or the tail of one status and the next
    assert remaining(old_ok + old_failed) == (0, 0, 0)
    assert remaining(young)[0] == 2
    turn = models.PruneTurn.objects.get()
    assert (turn.holder, turn.last_deleted) == ("host:1", 8)
    assert duty.due_in() == 30.0  # the turn is over: look again later


def test_a_database_fault_during_a_turn_is_logged_and_retried_later(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from django.db import OperationalError

    def broken(*args: object, **kwargs: object) -> bool:
        raise OperationalError("server closed the connection")

    monkeypatch.setattr(retention, "take_turn", broken)
    duty = RetentionDuty(
        database="default",
        backend="default",
        retention_by_status={"succeeded": timedelta(days=7)},
        holder="host:1",
        clock=lambda: 100.0,
    )
    assert duty.run_if_due() is None
    assert duty.due_in() == 30.0
    assert "pruning failed (server closed the connection)" in caplog.text


def make_keys(
    count: int, *, expired_ago: timedelta, prefix: str, task_id: str | None = None
) -> None:
    """``count`` deduplication keys that expired ``expired_ago`` (negative: still held)."""
    expires_at = timezone.now() - expired_ago
    models.DedupKey.objects.bulk_create(
        models.DedupKey(
            key=f"{prefix}{n:06d}", task_id=task_id or uuid.uuid4(), expires_at=expires_at
        )
        for n in range(count)
    )


def keys_left(prefix: str) -> int:
    return models.DedupKey.objects.filter(key__startswith=prefix).count()


def test_every_prune_deletes_expired_dedup_keys_and_keeps_held_ones(
    make_finished: MakeFinished,
) -> None:
    make_finished(1)
    make_keys(5, expired_ago=timedelta(minutes=1), prefix="old")
    make_keys(2, expired_ago=timedelta(minutes=-5), prefix="held")
    # Expired, but its debounced task has not started: later calls still merge into it.
    waiting = tasks.add.enqueue(1, 2)
    make_keys(1, expired_ago=timedelta(seconds=1), prefix="waits", task_id=str(waiting.id))
    assert (
        json.loads(taskflow("prune", "--older-than", "30d", "--dry-run", "--json"))[
            "expired_dedup_keys"
        ]
        == 5
    )
    assert keys_left("old") == 5
    text = taskflow("prune", "--older-than", "30d", "--status", "failed", "--chunk-size", "2")
    assert text == "deleted 0 tasks (failed: 0) and 5 expired deduplication keys\n"
    assert (keys_left("old"), keys_left("held"), keys_left("waits")) == (0, 2, 1)
    report = operations.prune(timedelta(days=30))
    assert (report.total, report.dedup_keys) == (1, 0)


def test_a_dedup_key_chunk_is_one_statement_in_expiry_order() -> None:
    make_keys(3, expired_ago=timedelta(hours=2), prefix="a")
    make_keys(3, expired_ago=timedelta(hours=1), prefix="b")
    with CaptureQueriesContext(connection) as queries:
        assert retention.prune_dedup_keys_chunk("default", timezone.now(), 4) == 4
    assert len([q for q in queries if q["sql"].startswith("DELETE")]) == 1
    assert not [q for q in queries if q["sql"].startswith("SELECT")]
    assert (keys_left("a"), keys_left("b")) == (0, 2)


def test_the_duty_deletes_expired_dedup_keys_even_without_retention(
    make_finished: MakeFinished,
) -> None:
    finished = make_finished(3)
    make_keys(5, expired_ago=timedelta(minutes=1), prefix="old")
    make_keys(1, expired_ago=timedelta(minutes=-5), prefix="held")
    clock = [0.0]
    duty = RetentionDuty(
        database="default",
        backend="default",
        retention_by_status={},
        holder="host:1",
        chunk_size=2,
        clock=lambda: clock[0],
    )
    passes = 0
    while duty.run_if_due() is not None:
        passes += 1
        clock[0] += duty.due_in()
    assert passes == 3  # 2 + 2 + 1 keys, one chunk a pass
    assert (keys_left("old"), keys_left("held")) == (0, 1)
    assert remaining(finished)[0] == 3  # no RETENTION: every task is kept
