"""Cancelling tasks through the Python API (operations.py), without a worker process."""

from __future__ import annotations

import logging
import threading
import uuid
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from django.db import connections
from django.utils import timezone

import django_taskflow
from django_taskflow import (
    InvalidQuery,
    ResultNotFound,
    cancel,
    cancel_all,
    cancel_requests,
    cancel_tasks,
    cancellation,
    events,
    models,
    recovery,
    signals,
    transitions,
)
from django_taskflow.execution import outcome as outcomes
from django_taskflow.models import EventKind
from django_taskflow.monitor import Cancelled, monitor
from django_taskflow.states import AttemptOutcome, Status
from django_taskflow.testing import run_tasks
from django_taskflow.worker.options import WorkerOptions
from django_taskflow.worker.slot import Slot
from tests import tasks
from tests.conftest import claim_for

pytestmark = pytest.mark.django_db


def row(result: object) -> models.Task:
    return models.Task.objects.get(pk=result.id)  # type: ignore[attr-defined]


def test_a_cancelled_queued_task_never_runs_and_says_who_when_and_why() -> None:
    result = tasks.add.enqueue(1, 2)
    before = timezone.now()
    assert cancel(result.id, reason="sent by mistake", by="alice") == 1
    assert run_tasks() == 0
    task = row(result)
    assert task.status == Status.CANCELLED
    assert (task.cancelled_by, task.cancel_reason) == ("alice", "sent by mistake")
    assert task.cancel_requested_at is not None and task.finished_at is not None
    assert task.finished_at >= before
    assert task.attempts == 0 and not task.attempt_set.exists()
    [event] = events.stream(task=result.id, after=0, follow=False)
    assert event.kind == EventKind.CANCELLED
    assert event.data == {"by": "alice", "reason": "sent by mistake"}
    assert result.refresh() is None and result.status.name == "FAILED"  # django.tasks mapping
    assert list(monitor(result.id, timeout=5)) == [Cancelled()]


def test_cancelling_a_finished_task_changes_nothing_and_says_so(
    caplog: pytest.LogCaptureFixture,
) -> None:
    result = tasks.add.enqueue(2, 3)
    run_tasks()
    finished_at = row(result).finished_at
    with caplog.at_level(logging.INFO, logger="django_taskflow.operations"):
        assert cancel(result.id, by="bob") == 0
    task = row(result)
    assert (task.status, task.finished_at, task.cancelled_by) == (
        Status.SUCCEEDED,
        finished_at,
        "",
    )
    assert "already succeeded" in caplog.text
    assert cancel(result.id) == 0  # again: still nothing


def test_cancelling_an_unknown_id_raises_result_not_found() -> None:
    with pytest.raises(ResultNotFound):
        cancel(uuid.uuid4())
    with pytest.raises(ResultNotFound):
        cancel("not-an-id")


def test_the_result_handle_cancels_its_task() -> None:
    result = tasks.add.enqueue(1, 1)
    assert result.cancel(reason="no longer needed") == 1
    assert row(result).status == Status.CANCELLED
    assert result.cancel() == 0


def test_cancel_takes_a_user_for_by() -> None:
    from django.contrib.auth.models import User

    user = User.objects.create(username="carol")
    result = tasks.add.enqueue(1, 1)
    cancel(result.id, by=user)
    assert row(result).cancelled_by == "carol"


def test_bad_arguments_raise_where_given_and_write_nothing() -> None:
    result = tasks.add.enqueue(1, 1)
    with pytest.raises(InvalidQuery, match="reason"):
        cancel(result.id, reason=3)  # type: ignore[arg-type]
    with pytest.raises(InvalidQuery, match="at least one"):
        cancel_tasks()
    with pytest.raises(InvalidQuery, match="status"):
        cancel_tasks(status="succeeded")
    with pytest.raises(InvalidQuery, match="backend"):
        cancel(result.id, backend="nope")
    assert row(result).status == Status.QUEUED


def test_cancel_tasks_counts_and_filters_by_name_tag_queue_and_status() -> None:
    reports = [tasks.tagged_report.enqueue(n) for n in range(3)]
    adds = [tasks.add.enqueue(n, n) for n in range(2)]
    assert cancel_tasks(tag="nothing-has-this") == 0
    assert cancel_tasks(name="tagged_report", status="running") == 0
    assert cancel_tasks(tag="reports") == 3
    assert {row(r).status for r in reports} == {Status.CANCELLED}
    assert {row(r).status for r in adds} == {Status.QUEUED}
    assert cancel_tasks(queue="default", name="tests.tasks.add") == 2
    assert cancel_tasks(queue="default") == 0


def test_cancel_all_cancels_queued_asks_running_and_leaves_finished() -> None:
    done = tasks.add.enqueue(0, 0)
    run_tasks()
    queued = [tasks.add.enqueue(n, 1) for n in range(3)]
    running = tasks.add.enqueue(9, 9)
    claim_for("elsewhere", limit=10)  # all four become running under one worker
    models.Task.objects.filter(pk__in=[q.id for q in queued]).update(
        status=Status.QUEUED, worker_id=None, attempts=0
    )
    assert cancel_all(by="ops") == 4
    assert {row(q).status for q in queued} == {Status.CANCELLED}
    asked = row(running)
    assert asked.status == Status.RUNNING  # its worker records the end
    assert asked.cancel_requested_at is not None and asked.cancelled_by == "ops"
    assert row(done).status == Status.SUCCEEDED
    assert cancel_all() == 0  # the running one is already asked


def test_a_cancel_racing_a_claim_has_exactly_one_winner(
    transactional_db: None,
) -> None:
    results = [tasks.add.enqueue(n, n) for n in range(40)]
    claimed: list[object] = []
    barrier = threading.Barrier(2)

    def claim() -> None:
        barrier.wait()
        try:
            claimed.extend(claim_for("racer", limit=40))
        finally:
            connections.close_all()

    thread = threading.Thread(target=claim)
    thread.start()
    barrier.wait()
    count = cancel_tasks(name="tests.tasks.add", status="queued")
    thread.join()
    statuses = [row(r).status for r in results]
    # Each task is either cancelled before the claim, or claimed and running.
    assert statuses.count(Status.CANCELLED) == count
    assert statuses.count(Status.RUNNING) == len(claimed)
    assert count + len(claimed) == 40


def test_a_task_that_cancels_itself_stops_at_its_next_progress_report() -> None:
    result = tasks.cancels_itself.enqueue()
    run_tasks()
    task = row(result)
    assert task.status == Status.CANCELLED
    [attempt] = task.attempt_set.all()
    assert attempt.outcome == AttemptOutcome.CANCELLED
    assert attempt.error_class == "django_taskflow.exceptions.TaskCancelled"
    assert "cancelled by the task: changed my mind" in attempt.error_message
    kinds = [e.kind for e in events.stream(task=result.id, after=0, follow=False)]
    assert kinds[-1] == EventKind.CANCELLED


def test_cancelled_event_reaches_signals_and_hooks(
    django_capture_on_commit_callbacks: Any,
) -> None:
    heard: list[str] = []

    def hook(event: events.TaskEvent) -> None:
        heard.append(event.task_id)

    django_taskflow.on_task_cancelled(hook)
    try:
        result = tasks.add.enqueue(1, 2)
        finished: list[object] = []

        def on_finished(sender: object, task_result: object, **kwargs: object) -> None:
            finished.append(task_result)

        signals.task_finished.connect(on_finished)
        try:
            with django_capture_on_commit_callbacks(execute=True):
                cancel(result.id)
        finally:
            signals.task_finished.disconnect(on_finished)
    finally:
        django_taskflow.remove_hook(hook)
    assert heard == [result.id]
    assert [r.id for r in finished] == [result.id]  # type: ignore[attr-defined]


def _slot(worker_id: str) -> Slot:
    options = WorkerOptions()
    return Slot(
        options=options.backend_options,
        backend="default",
        queues=options.queue_names,
        worker_id=worker_id,
        stop=threading.Event(),
        inline=True,
    )


def test_a_retry_is_refused_once_the_task_is_cancelled() -> None:
    result = tasks.always_fails_with_retries.enqueue()
    [claimed] = claim_for("w1")
    cancel(result.id, by="ops")  # the worker has not heard of it yet
    retry = outcomes.failed(
        RuntimeError("boom"), attempt=1, max_attempts=3, retry_delay=0, now=timezone.now()
    )
    now = timezone.now()
    completion = transitions.Completion(
        task=claimed, outcome=retry, started_at=now, finished_at=now
    )
    kept, _ = transitions.record_batch("default", "w1", [completion])
    assert kept == []  # refused: never queued again
    assert (
        cancellation.end_refused_retries(
            "default", "w1", [(claimed.id, 1, "builtins.RuntimeError", "boom", "")]
        )
        == 1
    )
    task = row(result)
    assert task.status == Status.CANCELLED
    [attempt] = task.attempt_set.all()
    assert attempt.outcome == AttemptOutcome.CANCELLED
    assert "boom" in attempt.error_message


@pytest.mark.parametrize(
    "outcome", [AttemptOutcome.LOST, AttemptOutcome.INTERRUPTED, AttemptOutcome.TIMED_OUT]
)
def test_a_cancelled_task_whose_worker_dies_or_is_stopped_ends_cancelled(
    outcome: AttemptOutcome,
) -> None:
    result = tasks.add.using(max_attempts=5).enqueue(1, 2)
    claim_for("w1")
    cancel(result.id, reason="stop", by="ops")
    recovery.release_worker("default", "w1", outcome=outcome, now=timezone.now())
    task = row(result)
    assert task.status == Status.CANCELLED
    assert [a.outcome for a in task.attempt_set.all()] == [AttemptOutcome.CANCELLED]


def test_a_cancelled_task_handed_back_unstarted_is_cancelled_uncharged() -> None:
    result = tasks.add.enqueue(1, 2)
    [claimed] = claim_for("w1")
    cancel(result.id)
    recovery.hand_back("default", "w1", [claimed.id])
    task = row(result)
    assert (task.status, task.attempts) == (Status.CANCELLED, 0)
    assert not task.attempt_set.exists()


def test_a_prefetched_task_cancelled_before_it_starts_never_runs() -> None:
    first = tasks.add.enqueue(1, 1)
    second = tasks.add.enqueue(2, 2)
    slot = _slot("w1")
    slot.prefetch.average_seconds = 0.001  # claim both at once
    assert slot.prefetch.claim()
    cancel(second.id, by="ops")
    slot.cancels.update(cancel_requests.pending_requests("default", "w1"))
    slot.run_once()
    slot.run_once()
    slot.recorder.flush()
    assert row(first).status == Status.SUCCEEDED
    task = row(second)
    assert task.status == Status.CANCELLED and task.result is None
    [attempt] = task.attempt_set.all()
    assert "before it started" in attempt.error_message


def test_async_twins_cancel_and_count() -> None:
    result = tasks.add.enqueue(1, 1)
    other = tasks.tagged_report.enqueue(1)
    assert async_to_sync(django_taskflow.acancel)(result.id) == 1
    assert async_to_sync(django_taskflow.acancel_tasks)(tag="reports") == 1
    assert async_to_sync(django_taskflow.acancel_all)() == 0
    assert row(other).status == Status.CANCELLED
