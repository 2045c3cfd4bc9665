"""Alert rules: each incident fires once, holds, and resolves once; one evaluator at a time."""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import pytest
from django.db import OperationalError, connections
from django.utils import timezone

from django_taskflow import conf, models
from django_taskflow.alerts import incidents
from django_taskflow.conf import Options
from django_taskflow.states import Status
from django_taskflow.worker.alert_duty import AlertDuty
from tests import tasks
from tests.conftest import heartbeat_worker

pytestmark = pytest.mark.django_db

type Evaluate = Callable[[timedelta], list[tuple[str, str, str]]]


def alert_options(*rules: dict[str, Any], every: str = "1m") -> Options:
    return conf.parse_options("default", {"ALERTS": {"EVERY": every, "RULES": list(rules)}})


@pytest.fixture
def start() -> datetime:
    """The evaluations' clock, a little ahead: tasks enqueued during the test are ready by then."""
    return timezone.now() + timedelta(seconds=5)


def evaluator(options: Options, start: datetime) -> Evaluate:
    """Evaluate at ``start + offset`` (no turn); return (state, rule, subject) per notice."""

    def evaluate(offset: timedelta) -> list[tuple[str, str, str]]:
        notices = incidents.evaluate(options, now=start + offset, take_turn=False)
        assert notices is not None
        return [
            (
                "resolved" if n.resolved else "firing",
                n.incident.rule,
                n.incident.subject,
            )
            for n in notices
        ]

    return evaluate


def minutes(count: float) -> timedelta:
    return timedelta(minutes=count)


def enqueue_ready(
    count: int, queue: str = "default", waited: timedelta = timedelta(0)
) -> list[str]:
    ids = [tasks.noop.using(queue_name=queue).enqueue().id for _ in range(count)]
    models.Task.objects.filter(pk__in=ids).update(run_after=timezone.now() - waited)
    return ids


def finish(ids: list[str]) -> None:
    models.Task.objects.filter(pk__in=ids).update(
        status=Status.SUCCEEDED, finished_at=timezone.now()
    )


# -- each rule fires once per incident and resolves ----------------------------------


def test_queue_depth_fires_once_after_holding_for_its_duration_then_resolves(
    start: datetime,
) -> None:
    backlog = {"NAME": "backlog", "WHEN": "queue_depth", "QUEUE": "default", "ABOVE": 2}
    evaluate = evaluator(alert_options({**backlog, "FOR": "10m"}), start)
    ids = enqueue_ready(3)
    enqueue_ready(5, queue="emails")  # another queue's depth does not count
    assert evaluate(minutes(0)) == []  # over, but not yet for 10 minutes: pending
    assert models.AlertIncident.objects.get().opened_at is None
    assert evaluate(minutes(5)) == []
    assert evaluate(minutes(10)) == [("firing", "backlog", "default")]
    assert evaluate(minutes(11)) == []  # still open: nothing sent again
    finish(ids[:1])
    assert evaluate(minutes(12)) == [("resolved", "backlog", "default")]
    assert evaluate(minutes(13)) == []
    incident = models.AlertIncident.objects.get()
    assert incident.opened_at == start + minutes(10)
    assert incident.resolved_at == start + minutes(12)
    assert incident.breached_since == start


def test_a_depth_that_drops_before_its_duration_never_fires(start: datetime) -> None:
    backlog = {"NAME": "backlog", "WHEN": "queue_depth", "QUEUE": "default", "ABOVE": 0}
    evaluate = evaluator(alert_options({**backlog, "FOR": "10m"}), start)
    ids = enqueue_ready(1)
    assert evaluate(minutes(0)) == []
    finish(ids)
    assert evaluate(minutes(9)) == []
    assert not models.AlertIncident.objects.exists()  # the pending row went with it
    enqueue_ready(1)
    assert evaluate(minutes(15)) == []  # a new episode starts its own 10 minutes
    assert evaluate(minutes(25)) == [("firing", "backlog", "default")]


def test_oldest_ready_fires_when_a_task_waited_too_long_and_resolves_when_it_ran(
    start: datetime,
) -> None:
    rule = {"NAME": "stale", "WHEN": "oldest_ready", "OLDER_THAN": "15m"}
    evaluate = evaluator(alert_options(rule), start)
    fresh = enqueue_ready(1, waited=minutes(1))
    assert evaluate(minutes(0)) == []
    old = enqueue_ready(1, waited=minutes(20))
    assert evaluate(minutes(0)) == [("firing", "stale", "")]
    detail = models.AlertIncident.objects.get().detail
    assert re.fullmatch(r"the oldest ready task has waited 120\d s \(limit 15m\)", detail)
    finish(old)
    assert evaluate(minutes(1)) == [("resolved", "stale", "")]
    finish(fresh)


def make_finished(task_path: str, *, failed: int, succeeded: int, at: datetime) -> None:
    models.Task.objects.bulk_create(
        models.Task(task_path=task_path, status=status, attempts=1, finished_at=at)
        for status, count in ((Status.FAILED, failed), (Status.SUCCEEDED, succeeded))
        for _ in range(count)
    )


def test_failure_rate_needs_its_minimum_sample_then_fires_per_task_and_resolves(
    start: datetime,
) -> None:
    rule = {"NAME": "failing", "WHEN": "failure_rate", "ABOVE": 50, "WINDOW": "15m"}
    evaluate = evaluator(alert_options({**rule, "MIN_TASKS": 4}), start)
    make_finished("app.tasks.one", failed=1, succeeded=0, at=start)
    assert evaluate(minutes(1)) == []  # 1 failure of 1: 100 %, but under the sample size
    make_finished("app.tasks.two", failed=3, succeeded=1, at=start)
    make_finished("app.tasks.three", failed=2, succeeded=2, at=start)  # 50 %: not above
    assert evaluate(minutes(1)) == [("firing", "failing", "app.tasks.two")]
    detail = models.AlertIncident.objects.get().detail
    assert detail == "3 of 4 app.tasks.two tasks failed in the last 15m (75 %, limit 50 %)"
    assert evaluate(minutes(10)) == []
    assert evaluate(minutes(16)) == [("resolved", "failing", "app.tasks.two")]  # out of window


def test_failure_rate_of_one_named_task_ignores_the_others(start: datetime) -> None:
    rule = {"NAME": "one", "WHEN": "failure_rate", "ABOVE": 10, "WINDOW": "1h", "MIN_TASKS": 1}
    evaluate = evaluator(alert_options({**rule, "TASK": "app.tasks.one"}), start)
    make_finished("app.tasks.two", failed=5, succeeded=0, at=start)
    assert evaluate(minutes(1)) == []
    make_finished("app.tasks.one", failed=1, succeeded=1, at=start)
    assert evaluate(minutes(1)) == [("firing", "one", "app.tasks.one")]


def test_no_worker_fires_when_none_is_alive_and_resolves_when_one_starts(
    start: datetime,
) -> None:
    evaluate = evaluator(
        alert_options(
            {"NAME": "down", "WHEN": "no_worker"},
            {"NAME": "emails unserved", "WHEN": "no_worker", "QUEUE": "emails"},
        ),
        start,
    )
    assert sorted(evaluate(minutes(0))) == [
        ("firing", "down", ""),
        ("firing", "emails unserved", "emails"),
    ]
    heartbeat_worker()  # serves "default" only
    assert evaluate(minutes(1)) == [("resolved", "down", "")]
    assert evaluate(minutes(2)) == []  # emails still has no worker: open, not sent again


def test_schedule_missed_fires_for_a_late_or_failed_run_and_resolves_when_it_fires(
    start: datetime,
) -> None:
    evaluate = evaluator(alert_options({"NAME": "missed", "WHEN": "schedule_missed"}), start)
    schedule = models.Schedule.objects.create(
        name="nightly",
        task_path="tests.tasks.noop",
        interval_seconds=3600,
        timezone="UTC",
        next_run_at=start + minutes(30),
    )
    assert evaluate(minutes(0)) == []
    assert evaluate(minutes(32)) == [("firing", "missed", "nightly")]  # no scheduler fired it
    schedule.next_run_at = start + minutes(90)
    schedule.save()
    models.ScheduleRun.objects.create(
        schedule=schedule,
        planned_at=start + minutes(30),
        fired_at=start + minutes(33),
        state=models.RunState.FIRED,
    )
    assert evaluate(minutes(34)) == [("resolved", "missed", "nightly")]
    models.ScheduleRun.objects.create(
        schedule=schedule,
        planned_at=start + minutes(90),
        fired_at=start + minutes(90),
        state=models.RunState.FAILED,
    )
    schedule.next_run_at = start + minutes(150)
    schedule.save()
    assert evaluate(minutes(91)) == [("firing", "missed", "nightly")]
    assert "was failed" in models.AlertIncident.objects.get(resolved_at=None).detail


def test_an_incident_of_a_removed_rule_is_resolved(start: datetime) -> None:
    evaluator(alert_options({"NAME": "down", "WHEN": "no_worker"}), start)(minutes(0))
    evaluate = evaluator(
        alert_options({"NAME": "stale", "WHEN": "oldest_ready", "OLDER_THAN": "1h"}), start
    )
    assert evaluate(minutes(1)) == [("resolved", "down", "")]
    assert models.AlertIncident.objects.get().detail == "its rule was removed"


# -- one evaluator at a time ---------------------------------------------------------


def test_the_turn_lets_one_evaluator_through_per_interval() -> None:
    options = alert_options({"NAME": "down", "WHEN": "no_worker"})
    first = incidents.evaluate(options, holder="a:1")
    assert first is not None
    assert [n.incident.rule for n in first] == ["down"]
    assert incidents.evaluate(options, holder="b:2") is None  # a's turn
    models.AlertTurn.objects.update(next_at=timezone.now() - timedelta(seconds=1))
    assert incidents.evaluate(options, holder="b:2") == []  # b's turn; already open: silent
    assert models.AlertTurn.objects.get().holder == "b:2"


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("take_turn", [True, False], ids=["with the turn", "rows alone"])
def test_two_evaluators_racing_send_one_alert(take_turn: bool) -> None:
    options = alert_options({"NAME": "down", "WHEN": "no_worker"})
    barrier = threading.Barrier(2)
    notices: list[incidents.Notice] = []
    lock = threading.Lock()

    def evaluate(holder: str) -> None:
        try:
            barrier.wait(timeout=10)
            found = incidents.evaluate(options, holder=holder, take_turn=take_turn)
            with lock:
                notices.extend(found or [])
        finally:
            connections.close_all()

    threads = [threading.Thread(target=evaluate, args=(f"h:{n}",)) for n in (1, 2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert [n.incident.rule for n in notices] == ["down"]
    assert models.AlertIncident.objects.count() == 1


# -- the worker's duty -----------------------------------------------------------------


def test_the_duty_evaluates_when_due_and_waits_between_checks() -> None:
    clock = [0.0]
    options = alert_options({"NAME": "down", "WHEN": "no_worker"}, every="10s")
    duty = AlertDuty(options=options, backend="default", holder="h:1", clock=lambda: clock[0])
    first = duty.run_if_due()
    assert first is not None
    assert [n.incident.rule for n in first] == ["down"]
    assert duty.run_if_due() is None  # not due yet
    clock[0] += duty.check_seconds
    assert duty.run_if_due() is None  # due, but the turn lasts one EVERY (10 s)
    assert duty.run_if_due(stopping=True) is None
    assert duty.check_seconds == 5.0


def test_a_database_fault_in_the_duty_is_logged_and_retried_later(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(*args: object, **kwargs: object) -> bool:
        raise OperationalError("server closed the connection")

    monkeypatch.setattr(incidents.turns, "take_turn", broken)
    options = alert_options({"NAME": "down", "WHEN": "no_worker"})
    duty = AlertDuty(options=options, backend="default", holder="h:1", clock=lambda: 100.0)
    assert duty.run_if_due() is None
    assert "alert rules could not be evaluated (server closed the connection)" in caplog.text
