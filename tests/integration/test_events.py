"""Events: recorded with each transition, streamed, announced to hooks and signals."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from asgiref.sync import sync_to_async
from django.db import connections

from django_taskflow import (
    events,
    on_task_complete,
    on_task_failed,
    on_task_start,
    remove_hook,
    signals,
)
from django_taskflow.contrib.middleware import MetricsMiddleware
from django_taskflow.execution import middleware
from django_taskflow.testing import run_tasks
from tests import tasks

pytestmark = pytest.mark.django_db


def kinds(task_id: str) -> list[str]:
    return [e.kind for e in events.stream(task=task_id, after=0, follow=False)]


def test_each_attempt_records_started_then_its_outcome() -> None:
    result = tasks.fail_until_attempt.enqueue(2)
    run_tasks()
    assert kinds(result.id) == ["started", "retrying", "started", "succeeded"]


def test_succeeded_event_carries_the_result_and_key() -> None:
    result = tasks.add.using(key="sum-1", tags=["math"]).enqueue(2, 3)
    run_tasks()
    [event] = list(events.results(after=0, follow=False))
    assert (event.task_id, event.task_name, event.key, event.result) == (
        result.id,
        "tests.tasks.add",
        "sum-1",
        5,
    )
    assert event.status == "succeeded"
    assert not event.is_failure


def test_failures_sees_final_failures_only() -> None:
    flaky = tasks.fail_until_attempt.enqueue(2)  # fails once, then succeeds
    doomed = tasks.fail_always.enqueue("for good")  # 3 attempts, then fails
    run_tasks()
    failures = list(events.failures(after=0, follow=False))
    assert [f.task_id for f in failures] == [doomed.id]
    assert failures[0].is_failure
    assert [str(e) for e in failures[0].errors] == ["builtins.RuntimeError: for good"] * 3
    errors = list(events.errors(after=0, follow=False))
    assert sorted(e.task_id for e in errors) == sorted([flaky.id] + [doomed.id] * 3)


def test_stream_filters_by_key_tags_and_kind() -> None:
    tasks.add.using(key="a", tags=["x", "y"]).enqueue(1, 1)
    tasks.add.using(key="b", tags=["y"]).enqueue(1, 1)
    run_tasks()
    assert {e.key for e in events.stream(key="a", after=0, follow=False)} == {"a"}
    assert {e.key for e in events.stream(tags=["x"], after=0, follow=False)} == {"a"}
    assert {e.key for e in events.stream(tags=["y"], after=0, follow=False)} == {"a", "b"}
    started = list(events.stream(kinds=["started"], after=0, follow=False))
    assert len(started) == 2


def test_stream_from_now_skips_earlier_events() -> None:
    tasks.add.enqueue(1, 1)
    run_tasks()
    later = events.stream(follow=False)
    assert list(later) == []


@pytest.mark.django_db(transaction=True)
def test_stream_supports_async_iteration() -> None:
    result = tasks.add.enqueue(1, 1)
    run_tasks()

    async def collect() -> list[str]:
        try:
            return [e.kind async for e in events.stream(task=result.id, after=0, follow=False)]
        finally:
            await sync_to_async(connections.close_all)()

    assert asyncio.run(collect()) == ["started", "succeeded"]


def test_progress_is_recorded_on_the_row_and_as_events() -> None:
    result = tasks.progress_steps.enqueue(2, 0)
    run_tasks()
    progress = [
        e.progress for e in events.stream(task=result.id, kinds=["progress"], after=0, follow=False)
    ]
    assert progress == [0.5, 1.0]


@pytest.fixture
def hook_calls() -> Iterator[list[tuple[str, str]]]:
    calls: list[tuple[str, str]] = []

    def started(event: events.TaskEvent) -> None:
        calls.append(("start", event.task_name))

    def completed(event: events.TaskEvent) -> None:
        calls.append(("complete", event.task_name))

    def failed(event: events.TaskEvent) -> None:
        calls.append(("failed", str(event.error)))
        raise RuntimeError("the error tracker is down")

    registered = [on_task_start(started), on_task_complete(completed), on_task_failed(failed)]
    yield calls
    for hook in registered:
        remove_hook(hook)


def test_hooks_see_start_complete_and_failure(
    hook_calls: list[tuple[str, str]], caplog: pytest.LogCaptureFixture
) -> None:
    tasks.add.enqueue(1, 1)
    tasks.fail_once.enqueue()
    good = tasks.add.enqueue(2, 2)
    with caplog.at_level(logging.ERROR, logger="django_taskflow.signals"):
        run_tasks()
    assert hook_calls == [
        ("start", "tests.tasks.add"),
        ("complete", "tests.tasks.add"),
        ("start", "tests.tasks.fail_once"),
        ("failed", "builtins.ValueError: no retries asked for"),
        ("start", "tests.tasks.add"),
        ("complete", "tests.tasks.add"),
    ]
    assert "the error tracker is down" in caplog.text  # logged, and the worker went on
    good.refresh()
    assert good.return_value == 4


def test_signals_are_sent_for_each_transition() -> None:
    seen: list[str] = []

    def receiver(sender: object, event: events.TaskEvent, **kwargs: object) -> None:
        seen.append(event.kind)

    watched = [
        signals.task_running,
        signals.task_retrying,
        signals.task_succeeded,
        signals.task_failed,
        signals.task_progress,
    ]
    for signal in watched:
        signal.connect(receiver)
    try:
        tasks.fail_until_attempt.enqueue(2)
        tasks.progress_steps.enqueue(1, 0)
        run_tasks()
    finally:
        for signal in watched:
            signal.disconnect(receiver)
    assert seen == [
        "started",
        "retrying",
        "started",
        "progress",
        "succeeded",
        "started",
        "succeeded",
    ]


@pytest.fixture
def clean_middleware() -> Iterator[None]:
    middleware.clear()
    MetricsMiddleware.reset()
    yield
    middleware.clear()
    MetricsMiddleware.reset()


def test_configured_and_added_middleware_wrap_every_execution(
    settings, clean_middleware: None
) -> None:
    order: list[str] = []

    def added(task, context, call_next):  # type: ignore[no-untyped-def]
        order.append("added")
        return call_next()

    settings.TASKS = {
        "default": {
            "BACKEND": "django_taskflow.backend.TaskflowBackend",
            "QUEUES": ["default"],
            "OPTIONS": {"MIDDLEWARE": ["django_taskflow.contrib.middleware.MetricsMiddleware"]},
        }
    }
    middleware.use(added)
    tasks.add.enqueue(1, 1)
    tasks.fail_once.enqueue()
    run_tasks()
    assert order == ["added", "added"]
    metrics = MetricsMiddleware.snapshot()
    assert (metrics["tests.tasks.add"].calls, metrics["tests.tasks.add"].errors) == (1, 0)
    assert (metrics["tests.tasks.fail_once"].calls, metrics["tests.tasks.fail_once"].errors) == (
        1,
        1,
    )


def test_middleware_can_short_circuit_the_task(clean_middleware: None, tmp_path: Path) -> None:
    def cached(task, context, call_next):  # type: ignore[no-untyped-def]
        return "from cache"

    middleware.use(cached)
    result = tasks.record_run.enqueue(str(tmp_path / "runs"))
    run_tasks()
    result.refresh()
    assert result.return_value == "from cache"
    assert not (tmp_path / "runs").exists()  # the task itself never ran


def test_monitor_of_an_unknown_or_malformed_id_raises_result_not_found() -> None:
    from django_taskflow import ResultNotFound
    from django_taskflow.monitor import monitor

    for task_id in ["01a219a7-820b-7235-9f13-0bb4bc84e2de", "not-a-uuid"]:
        with pytest.raises(ResultNotFound):
            next(monitor(task_id))


def test_monitor_replays_a_finished_task_and_stops() -> None:
    from django_taskflow.monitor import Failed, Queued, Retrying, Running, monitor

    result = tasks.fail_always.enqueue("no")
    run_tasks()
    states = list(monitor(result.id, timeout=5))
    assert [type(s) for s in states] == [
        Queued,
        Running,
        Retrying,
        Running,
        Retrying,
        Running,
        Failed,
    ]
    assert str(states[-1].error) == "builtins.RuntimeError: no"


def test_stream_yields_an_event_that_commits_after_a_later_one() -> None:
    """Ids are drawn at insert but seen at commit: a lower id can appear late.

    Only on PostgreSQL: SQLite commits in id order (see test_event_stream).
    """
    from django_taskflow import models

    if connections["default"].vendor != "postgresql":
        pytest.skip("needs PostgreSQL")
    result = tasks.add.enqueue(1, 1)
    task = models.Task.objects.get(pk=result.id)
    first = models.Event.objects.create(task=task, kind="started", attempt=1)
    models.Event.objects.create(pk=first.pk + 2, task=task, kind="succeeded", attempt=1)
    stream = iter(events.stream(task=result.id, after=first.pk - 1, follow=True, timeout=5))
    assert [next(stream).kind, next(stream).kind] == ["started", "succeeded"]
    # The transaction that drew the id in between commits only now.
    models.Event.objects.create(pk=first.pk + 1, task=task, kind="progress", attempt=1)
    late = next(stream)
    assert (late.id, late.kind) == (first.pk + 1, "progress")
