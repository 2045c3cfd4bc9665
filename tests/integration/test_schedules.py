"""Schedules fire through the scheduler's tick: once each, with their policies."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from django_taskflow import (
    InvalidSchedule,
    InvalidTaskOptions,
    TimeWindow,
    models,
    schedule,
    schedules,
    task,
    unschedule,
)
from django_taskflow import cron as cron_builders
from django_taskflow.states import Status
from django_taskflow.testing import run_scheduler, run_tasks
from tests import tasks

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)  # a Monday


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)  # type: ignore[misc]


def make(name: str = "hourly", *, now: datetime = T0, **options: Any) -> models.Schedule:
    options.setdefault("cron", "0 * * * *")
    options.setdefault("timezone", "UTC")
    options.setdefault("args", (1, 2))
    declaration = schedules.build_declaration(tasks.add, name=name, **options)
    schedules.save_runtime(declaration, using="default", now=now)
    return models.Schedule.objects.get(name=name)


def fired(name: str = "hourly") -> list[datetime]:
    return list(
        models.ScheduleRun.objects.filter(schedule__name=name, state="fired")
        .order_by("planned_at")
        .values_list("planned_at", flat=True)
    )


def finish_all() -> None:
    run_tasks()


@pytest.fixture
def declarations() -> Iterator[None]:
    """Code declarations made by a test do not outlive it."""
    saved = dict(schedules._declared)
    schedules._declared.clear()
    yield
    schedules._declared.clear()
    schedules._declared.update(saved)


def test_a_due_run_enqueues_its_task_linked_to_schedule_and_planned_time() -> None:
    row = make()
    assert row.next_run_at == utc(2026, 1, 5, 9)
    assert run_scheduler(at=utc(2026, 1, 5, 8, 59)).fired == 0
    report = run_scheduler(at=utc(2026, 1, 5, 9, 0, 0, 300_000))
    assert report.fired == 1
    run = models.ScheduleRun.objects.get()
    assert run.schedule == row and run.planned_at == utc(2026, 1, 5, 9)
    assert run.task is not None and str(run.task.pk) == report.task_ids[0]
    assert run.task.task_path == "tests.tasks.add" and run.task.args == [1, 2]
    row.refresh_from_db()
    assert row.next_run_at == utc(2026, 1, 5, 10) and row.last_run_at == utc(2026, 1, 5, 9)


def test_each_planned_run_fires_once_however_often_the_tick_runs() -> None:
    make()
    for second in range(5):
        run_scheduler(at=utc(2026, 1, 5, 9, 0, second))
    assert fired() == [utc(2026, 1, 5, 9)]


def test_two_schedulers_with_the_same_view_fire_a_run_once() -> None:
    """The guarded cursor: a second tick that read the row before the first moved it loses."""
    from django_taskflow import scheduler

    row = make()
    stale = models.Schedule.objects.get(pk=row.pk)
    report = scheduler.TickReport()
    scheduler._fire_schedule("default", row, utc(2026, 1, 5, 9, 0, 1), report)
    scheduler._fire_schedule("default", stale, utc(2026, 1, 5, 9, 0, 1), report)
    assert report.fired == 1
    assert fired() == [utc(2026, 1, 5, 9)]


def test_a_planned_run_already_recorded_does_not_fire_again() -> None:
    row = make()
    run_scheduler(at=utc(2026, 1, 5, 9, 0, 1))
    # A cursor moved back (a clock that jumped, a hand edit) meets the unique run.
    models.Schedule.objects.filter(pk=row.pk).update(
        next_planned_at=utc(2026, 1, 5, 9), next_run_at=utc(2026, 1, 5, 9)
    )
    assert run_scheduler(at=utc(2026, 1, 5, 9, 0, 2)).fired == 0
    assert fired() == [utc(2026, 1, 5, 9)]
    assert models.Task.objects.count() == 1


def test_catch_up_skip_fires_nothing_for_a_downtime_and_waits_for_the_next_time() -> None:
    make(catch_up="skip", overlap="allow")
    report = run_scheduler(at=utc(2026, 1, 5, 12, 20))  # down since 08:00
    assert (report.fired, report.missed) == (0, 4)
    assert run_scheduler(at=utc(2026, 1, 5, 13, 0, 1)).fired == 1
    assert fired() == [utc(2026, 1, 5, 13)]


def test_catch_up_run_once_fires_one_run_for_a_downtime() -> None:
    make(catch_up="run_once", overlap="allow")
    report = run_scheduler(at=utc(2026, 1, 5, 12, 20))
    assert (report.fired, report.missed) == (1, 3)
    assert fired() == [utc(2026, 1, 5, 12)]
    assert run_scheduler(at=utc(2026, 1, 5, 13, 0, 1)).fired == 1


def test_overlap_skip_fires_no_run_while_the_last_is_queued_or_running() -> None:
    make(overlap="skip")
    assert run_scheduler(at=utc(2026, 1, 5, 9, 0, 1)).fired == 1
    report = run_scheduler(at=utc(2026, 1, 5, 10, 0, 1))  # the 09:00 task is still queued
    assert (report.fired, report.skipped) == (0, 1)
    skipped = models.ScheduleRun.objects.get(planned_at=utc(2026, 1, 5, 10))
    assert skipped.state == "skipped" and "still queued or running" in skipped.note
    finish_all()
    assert run_scheduler(at=utc(2026, 1, 5, 11, 0, 1)).fired == 1
    assert fired() == [utc(2026, 1, 5, 9), utc(2026, 1, 5, 11)]


def test_overlap_queue_holds_a_run_until_the_last_one_finished() -> None:
    make(overlap="queue")
    assert run_scheduler(at=utc(2026, 1, 5, 9, 0, 1)).fired == 1
    report = run_scheduler(at=utc(2026, 1, 5, 10, 0, 1))
    assert (report.fired, report.waiting) == (0, 1)
    assert run_scheduler(at=utc(2026, 1, 5, 10, 0, 2)).fired == 0  # still waiting
    finish_all()
    assert run_scheduler(at=utc(2026, 1, 5, 10, 0, 3)).fired == 1
    assert fired() == [utc(2026, 1, 5, 9), utc(2026, 1, 5, 10)]
    assert models.Task.objects.filter(status=Status.QUEUED).count() == 1


def test_overlap_allow_fires_runs_side_by_side() -> None:
    make(overlap="allow")
    run_scheduler(at=utc(2026, 1, 5, 9, 0, 1))
    assert run_scheduler(at=utc(2026, 1, 5, 10, 0, 1)).fired == 1
    assert models.Task.objects.filter(status=Status.QUEUED).count() == 2


def test_runs_deferred_by_a_window_fire_once_at_its_opening() -> None:
    make(window=TimeWindow("22:00", "06:00"), overlap="allow")
    row = models.Schedule.objects.get()
    assert row.next_run_at == utc(2026, 1, 5, 22)  # 09:00 is outside the window
    assert run_scheduler(at=utc(2026, 1, 5, 21, 59)).fired == 0
    assert run_scheduler(at=utc(2026, 1, 5, 22, 0, 1)).fired == 1
    assert fired() == [utc(2026, 1, 5, 9)]  # one run, for the first time it stands for
    assert run_scheduler(at=utc(2026, 1, 5, 23, 0, 1)).fired == 1  # inside: on time
    assert run_scheduler(at=utc(2026, 1, 6, 1, 0, 1)).fired == 1  # after midnight
    row.refresh_from_db()
    assert row.next_run_at == utc(2026, 1, 6, 2)


def test_runs_deferred_by_a_window_with_overlap_queue_each_run_in_turn() -> None:
    make(window=TimeWindow.OFF_PEAK, overlap="queue", now=utc(2026, 1, 5, 22, 30))
    run_scheduler(at=utc(2026, 1, 6, 2, 0, 1))  # 23:00, 00:00, 01:00, 02:00 planned
    assert models.ScheduleRun.objects.count() == 4
    for _ in range(4):
        finish_all()
        run_scheduler(at=utc(2026, 1, 6, 2, 0, 2))
    assert len(fired()) == 4
    assert models.Task.objects.filter(status=Status.SUCCEEDED).count() == 4
    starts = list(
        models.Task.objects.order_by("started_at").values_list("finished_at", "started_at")
    )
    assert all(done <= then for (done, _), (_, then) in itertools.pairwise(starts))


def test_a_schedule_made_at_run_time_applies_by_the_next_tick() -> None:
    name = schedule(tasks.add, every=timedelta(minutes=5), args=(2, 3), name="five")
    row = models.Schedule.objects.get(name=name)
    assert row.source == "runtime" and row.enabled
    report = run_scheduler(at=row.next_run_at + timedelta(seconds=1))  # type: ignore[operator]
    assert report.fired == 1
    assert unschedule("five") is True
    assert not models.Schedule.objects.exists()


def test_an_unnamed_schedule_is_named_after_its_task_and_arguments() -> None:
    first = schedule(tasks.add, cron=cron_builders.daily_at(9), args=(1, 2))
    second = schedule(tasks.add, cron=cron_builders.daily_at(9), args=(3, 4))
    assert first.startswith("tests.tasks.add:") and second.startswith("tests.tasks.add:")
    assert first != second


def test_the_schedules_time_zone_defaults_to_time_zone_setting(settings: Any) -> None:
    settings.TIME_ZONE = "Europe/Paris"
    name = schedule(tasks.add, cron="30 9 * * *", args=(1, 1))
    assert models.Schedule.objects.get(name=name).timezone == "Europe/Paris"


def test_a_task_that_cannot_be_enqueued_fails_its_run_and_the_schedule_goes_on() -> None:
    make()
    models.Schedule.objects.update(args=["only-one"])  # add() needs two: edited by hand
    report = run_scheduler(at=utc(2026, 1, 5, 9, 0, 1))
    assert (report.fired, report.failed) == (0, 1)
    run = models.ScheduleRun.objects.get()
    assert run.state == "failed" and "b" in run.note
    models.Schedule.objects.update(args=[1, 2])
    assert run_scheduler(at=utc(2026, 1, 5, 10, 0, 1)).fired == 1


def test_a_fired_task_follows_its_own_options() -> None:
    declaration = schedules.build_declaration(tasks.fail_always, name="f", cron="0 * * * *")
    schedules.save_runtime(declaration, using="default", now=T0)
    run_scheduler(at=utc(2026, 1, 5, 9, 0, 1))
    fired_task = models.ScheduleRun.objects.get().task
    assert fired_task is not None
    assert fired_task.max_attempts == 3  # @task(max_attempts=3, retry=RetryPolicy.fixed(0))
    assert fired_task.retry_policy["kind"] == "fixed"


def test_a_disabled_schedule_does_not_fire() -> None:
    make()
    models.Schedule.objects.update(enabled=False)
    assert run_scheduler(at=utc(2026, 1, 5, 9, 0, 1)).fired == 0


def test_sync_creates_updates_and_disables_code_schedules(declarations: None) -> None:
    first = schedules.build_declaration(tasks.add, name="a", cron="0 * * * *", args=(1, 1))
    second = schedules.build_declaration(tasks.noop, name="b", every=timedelta(hours=1))
    report = schedules.sync(declarations=[first, second], now=T0)
    assert (report.created, report.updated, report.disabled) == (["a", "b"], [], [])
    assert schedules.sync(declarations=[first, second], now=T0).unchanged == ["a", "b"]
    run_scheduler(at=utc(2026, 1, 5, 9, 0, 1))
    changed = schedules.build_declaration(tasks.add, name="a", cron="30 * * * *", args=(1, 1))
    report = schedules.sync(declarations=[changed], now=utc(2026, 1, 5, 9, 5))
    assert (report.created, report.updated, report.disabled) == ([], ["a"], ["b"])
    a, b = models.Schedule.objects.order_by("name")
    assert a.cron == "30 * * * *" and a.next_run_at == utc(2026, 1, 5, 9, 30)
    assert not b.enabled and b.missing_from_code
    assert models.ScheduleRun.objects.filter(schedule=b).count() == 1  # history kept
    # Declared again: enabled again.
    report = schedules.sync(declarations=[changed, second], now=utc(2026, 1, 5, 9, 6))
    assert report.updated == ["b"]
    assert models.Schedule.objects.get(name="b").enabled


def test_sync_leaves_admin_and_runtime_schedules_alone(declarations: None) -> None:
    make("made-at-runtime")
    clash = schedules.build_declaration(tasks.noop, name="made-at-runtime", cron="0 0 * * *")
    report = schedules.sync(declarations=[clash], now=T0)
    assert report.conflicts == ["made-at-runtime"]
    row = models.Schedule.objects.get()
    assert row.enabled and row.task_path == "tests.tasks.add"
    assert schedules.sync(declarations=[], now=T0).disabled == []


def test_an_unchanged_sync_keeps_the_cursor_so_restarts_add_no_run(declarations: None) -> None:
    declaration = schedules.build_declaration(tasks.add, name="a", cron="0 * * * *", args=(1, 1))
    schedules.sync(declarations=[declaration], now=T0)
    schedules.sync(declarations=[declaration], now=utc(2026, 1, 5, 9, 30))
    assert models.Schedule.objects.get().next_run_at == utc(2026, 1, 5, 9)


def test_a_task_declared_with_schedule_is_synced(declarations: None) -> None:
    definition = task(schedule=cron_builders.daily_at(9, 30))(scheduled_noop)
    assert definition.schedule is not None
    report = schedules.sync(now=T0)
    row = models.Schedule.objects.get(name__in=report.created)
    assert row.task_path.endswith("scheduled_noop") and row.cron == "30 9 * * *"


def scheduled_noop() -> None:
    pass


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"cron": "0 25 * * *"}, "is not valid cron"),
        ({"cron": "0 * * * *", "timezone": "Nowhere/City"}, "not a known time zone"),
        ({"cron": "0 * * * *", "every": timedelta(hours=1)}, "not both"),
        ({}, "give cron= or every="),
        ({"cron": "0 * * * *", "catch_up": "all"}, 'catch_up must be "skip" or "run_once"'),
        ({"cron": "0 * * * *", "overlap": "never"}, 'overlap must be "skip", "queue" or "allow"'),
        ({"cron": "0 * * * *", "args": (1,)}, "do not fit the task"),
        ({"cron": "0 * * * *", "args": (1, object())}, "must be plain JSON"),
        ({"cron": "0 * * * *", "name": ""}, "name must be a string"),
    ],
)
def test_bad_schedule_options_raise_invalid_schedule_and_write_nothing(
    options: dict[str, Any], message: str
) -> None:
    options.setdefault("args", (1, 2))
    with pytest.raises(InvalidSchedule, match=message):
        schedule(tasks.add, **options)
    assert not models.Schedule.objects.exists()


def test_a_bad_schedule_option_of_a_task_is_refused_at_definition() -> None:
    with pytest.raises(InvalidTaskOptions, match=r"schedule of task .* must be a cron builder"):
        task(schedule="every day")(scheduled_noop)
    with pytest.raises(InvalidTaskOptions, match="do not fit the task"):
        task(schedule=timedelta(hours=1))(needs_an_argument)


def needs_an_argument(value: int) -> None:
    pass


def test_a_code_schedule_cannot_be_changed_by_schedule_at_run_time(declarations: None) -> None:
    declaration = schedules.build_declaration(tasks.add, name="a", cron="0 * * * *", args=(1, 1))
    schedules.sync(declarations=[declaration], now=T0)
    with pytest.raises(InvalidSchedule, match="is declared in code"):
        schedule(tasks.add, name="a", cron="5 * * * *", args=(1, 1))


def test_the_howto_examples_declare_sync_and_fire(declarations: None) -> None:
    import importlib
    import sys

    sys.modules.pop("testproject.docs_examples.schedules", None)
    from django.apps import apps

    apps.ready = False  # as while the apps load: declaring only
    try:
        example = importlib.import_module("testproject.docs_examples.schedules")
    finally:
        apps.ready = True
    assert not models.Schedule.objects.exists()  # declaring touched no database
    report = schedules.sync(now=utc(2026, 1, 5, 7))  # a Monday, 08:00 in Paris
    assert sorted(report.created) == [
        "hourly-cleanup",
        "sales-report",
        "testproject.docs_examples.schedules.send_digest:" + report.created[-1].split(":")[-1],
    ]
    sales = models.Schedule.objects.get(name="sales-report")
    assert sales.next_run_at == utc(2026, 1, 5, 8)  # 09:00 Paris
    run_scheduler(at=utc(2026, 1, 5, 8, 0, 1))
    run_tasks(now=lambda: utc(2026, 1, 5, 8, 0, 1))
    assert sorted(example.SENT) == ["cleanup", "report:sales"]  # both due at 08:00 UTC


def test_a_schedule_that_fails_to_fire_is_paused_and_the_others_still_fire(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from django_taskflow import scheduler

    make("broken")
    make("fine")
    real_timing = models.Schedule.timing

    def timing(row: models.Schedule) -> Any:
        if row.name == "broken":
            raise RuntimeError("a bug met by one schedule")
        return real_timing.fget(row)  # type: ignore[attr-defined]

    monkeypatch.setattr(models.Schedule, "timing", property(timing))
    report = scheduler.tick("default", utc(2026, 1, 5, 9, 0, 1))
    assert (report.fired, report.failed) == (1, 1)
    assert models.Schedule.objects.get(name="broken").next_run_at is None
    assert fired("fine") == [utc(2026, 1, 5, 9)]


def test_workers_starting_together_sync_without_failing(
    declarations: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A worker that loses the race to create a row syncs again and finds it."""
    from django.db import IntegrityError

    declaration = schedules.build_declaration(tasks.add, name="a", cron="0 * * * *", args=(1, 1))
    real_sync = schedules._sync
    calls: list[int] = []

    def racing(*args: Any) -> schedules.SyncReport:
        calls.append(1)
        if len(calls) == 1:
            real_sync(*args)  # the other worker's sync, committed first
            raise IntegrityError("duplicate key value violates unique constraint")
        return real_sync(*args)

    monkeypatch.setattr(schedules, "_sync", racing)
    report = schedules.sync(declarations=[declaration], now=T0)
    assert report.unchanged == ["a"] and len(calls) == 2
    assert models.Schedule.objects.count() == 1


def test_an_encrypted_task_is_scheduled_only_without_arguments() -> None:
    from tests import encrypted_tasks

    with pytest.raises(InvalidSchedule, match="encrypted task"):
        schedule(encrypted_tasks.archive, cron="0 * * * *", args=("secret",))
    assert not models.Schedule.objects.exists()
    with pytest.raises(InvalidSchedule, match="encrypted task"):
        schedule(tasks.add.using(encoder="encrypted"), cron="0 * * * *", args=(1, 2))
    assert not models.Schedule.objects.exists()
    schedule(encrypted_tasks.sealed_report, cron="0 * * * *")
    assert models.Schedule.objects.get().task_path == encrypted_tasks.sealed_report.module_path
