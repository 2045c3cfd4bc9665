"""The scheduler duty of the supervisor loop: when it ticks, and a lost connection."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.db import OperationalError

from django_taskflow import scheduler
from django_taskflow.worker import scheduler_duty
from django_taskflow.worker.scheduler_duty import TICK_SECONDS, SchedulerDuty

NOW = datetime(2026, 1, 5, 9, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.value = 100.0

    def __call__(self) -> float:
        return self.value


@pytest.fixture
def clock() -> Clock:
    return Clock()


def test_it_ticks_when_due_then_waits_for_the_next_due_schedule_or_a_second(
    clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    ticks: list[datetime] = []

    def tick(database: str, now: datetime) -> scheduler.TickReport:
        ticks.append(now)
        return scheduler.TickReport(next_due=NOW + timedelta(seconds=0.25))

    monkeypatch.setattr(scheduler, "tick", tick)
    duty = SchedulerDuty("default", clock=clock, now=lambda: NOW)
    assert duty.due_in() == 0
    assert duty.run_if_due() is not None
    assert duty.due_in() == pytest.approx(0.25)  # the next schedule is due sooner than 1 s
    assert duty.run_if_due() is None  # not due yet: no query
    assert len(ticks) == 1

    monkeypatch.setattr(scheduler, "tick", lambda database, now: scheduler.TickReport())
    clock.value += 0.25
    duty.run_if_due()
    assert duty.due_in() == pytest.approx(TICK_SECONDS)  # nothing due: once a second


def test_a_lost_connection_is_retried_after_a_growing_pause_and_never_raised(
    clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    closed: list[str] = []

    class Connection:
        def close(self) -> None:
            closed.append("closed")

    def broken(database: str, now: datetime) -> scheduler.TickReport:
        raise OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr(scheduler, "tick", broken)
    monkeypatch.setattr(scheduler_duty, "connections", {"default": Connection()})
    monkeypatch.setattr(scheduler_duty.random, "uniform", lambda low, high: 1.0)
    duty = SchedulerDuty("default", clock=clock, now=lambda: NOW)
    pauses = []
    for _ in range(3):
        assert duty.run_if_due() is None
        pauses.append(duty.due_in())
        clock.value += duty.due_in()
    assert pauses == [0.5, 1.0, 2.0]
    assert closed == ["closed"] * 3
    monkeypatch.setattr(scheduler, "tick", lambda database, now: scheduler.TickReport())
    assert duty.run_if_due() is not None
    assert not duty.failing and duty.delay == 0.5


def test_a_fault_in_the_schedulers_own_code_drains_the_worker_and_fails_its_exit(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from django_taskflow.worker.options import WorkerOptions
    from django_taskflow.worker.supervisor import Worker

    worker = Worker(WorkerOptions(pool="thread"))
    duty = worker.duties.active["scheduler"]

    def bug() -> None:
        raise RuntimeError("a bug in the scheduler")

    monkeypatch.setattr(duty, "run_if_due", bug)
    worker._run_duties()
    assert worker.failed_duty and "scheduler" not in worker.duties.active
    assert worker.state.requested_at is not None  # stops claiming; running tasks finish


def test_no_scheduler_means_no_duty() -> None:
    from django_taskflow.worker.options import WorkerOptions
    from django_taskflow.worker.supervisor import Worker

    assert "scheduler" not in Worker(WorkerOptions(pool="thread", scheduler=False)).duties.active
