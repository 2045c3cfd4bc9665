"""operations.requeue and retry_now: running tasks again at an operator's word."""

from __future__ import annotations

from datetime import timedelta

import pytest
from asgiref.sync import async_to_sync
from django.contrib.auth.models import User
from django.utils import timezone

from django_taskflow import models, operations
from django_taskflow.exceptions import InvalidQuery
from django_taskflow.models import EventKind
from django_taskflow.testing import run_tasks
from tests import tasks

pytestmark = pytest.mark.django_db


def failed_task() -> models.Task:
    result = tasks.fail_always.enqueue("boom")
    run_tasks()
    task = models.Task.objects.get(pk=result.id)
    assert task.status == "failed" and task.attempts == 3
    return task


def test_retry_now_takes_a_failed_task_out_of_failed_with_one_more_attempt() -> None:
    task = failed_task()
    report = operations.retry_now(task.pk, by="alice")
    assert (report.changed, dict(report.refused)) == (1, {})
    task.refresh_from_db()
    assert task.status == "queued" and task.finished_at is None
    assert (task.attempts, task.max_attempts) == (3, 4)
    event = task.event_set.get(kind=EventKind.RETRIED)
    assert event.data == {"by": "alice"}
    # It runs once more and fails again, its earlier attempts kept.
    assert run_tasks() == 1
    task.refresh_from_db()
    assert task.status == "failed"
    assert list(task.attempt_set.values_list("number", flat=True)) == [1, 2, 3, 4]


def test_retry_now_records_the_user_who_did_it() -> None:
    task = failed_task()
    user = User.objects.create_user("bob")
    operations.retry_now([task.pk], by=user)
    assert task.event_set.get(kind=EventKind.RETRIED).data == {"by": "bob"}


def test_retry_now_runs_a_waiting_task_at_once() -> None:
    result = tasks.fail_with_backoff.enqueue()
    run_tasks()
    task = models.Task.objects.get(pk=result.id)
    assert task.status == "queued" and task.run_after > timezone.now()
    assert operations.retry_now(task.pk).changed == 1
    task.refresh_from_db()
    assert task.run_after <= timezone.now() and task.max_attempts == 4
    assert run_tasks() == 1


def test_retry_now_refuses_other_states_saying_why() -> None:
    done = tasks.add.enqueue(1, 2)
    run_tasks()
    ready = tasks.add.enqueue(3, 4)
    report = operations.retry_now([done.id, ready.id, "0190a0a0-0000-7000-8000-000000000000"])
    assert report.changed == 0
    assert dict(report.refused) == {
        "it is succeeded: requeue it to run it again": 1,
        "it is already queued to run now": 1,
        "no such task": 1,
    }
    assert models.Task.objects.get(pk=done.id).status == "succeeded"


def test_retry_now_refuses_a_unique_task_while_a_copy_is_queued() -> None:
    first = tasks.unique_add.enqueue(1, 1)
    models.Task.objects.filter(pk=first.id).update(status="failed")
    second = tasks.unique_add.enqueue(1, 1)
    assert second.id != first.id
    report = operations.retry_now(first.id)
    assert (report.changed, dict(report.refused)) == (
        0,
        {"a copy of this unique task is already queued or running": 1},
    )


def test_requeue_makes_a_new_task_with_the_same_inputs_linked_to_the_original() -> None:
    result = tasks.add.using(key="k1", tags=["nightly"]).enqueue(2, 3)
    run_tasks()
    report = operations.requeue(result.id, by="carol")
    assert report.changed == 1 and len(report.new_ids) == 1
    copy = models.Task.objects.get(pk=report.new_ids[0])
    assert str(copy.original) == result.id
    assert (copy.status, copy.args, copy.key, copy.tags, copy.attempts) == (
        "queued",
        [2, 3],
        "k1",
        ["nightly"],
        0,
    )
    assert copy.event_set.get(kind=EventKind.REQUEUED).data == {"by": "carol"}
    assert models.Task.objects.get(pk=result.id).status == "succeeded"
    run_tasks()
    copy.refresh_from_db()
    assert copy.result == 5


def test_requeue_refuses_queued_tasks_and_busy_unique_keys() -> None:
    queued = tasks.add.enqueue(1, 2)
    first = tasks.unique_add.enqueue(1, 1)
    run_tasks()
    tasks.unique_add.enqueue(1, 1)  # a new copy waits
    queued_again = tasks.add.enqueue(5, 5)
    report = operations.requeue([queued.id, first.id, queued_again.id])
    assert report.changed == 1  # ``queued`` had finished in run_tasks()
    assert dict(report.refused) == {
        "a copy of this unique task is already queued or running": 1,
        "it is still queued or running: nothing to requeue": 1,
    }


def test_requeue_two_finished_copies_of_a_unique_task_makes_one() -> None:
    first = tasks.unique_add.enqueue(1, 1)
    run_tasks()
    second = tasks.unique_add.enqueue(1, 1)
    run_tasks()
    report = operations.requeue([first.id, second.id])
    assert report.changed == 1
    assert report.refused["a copy of this unique task is already queued or running"] == 1


def test_operations_select_by_filter_in_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    from django_taskflow import rerun

    monkeypatch.setattr(rerun, "CHUNK", 3)
    for _ in range(7):
        tasks.fail_once.using(tags=["batch"]).enqueue()
    tasks.fail_once.enqueue()  # no tag: not selected
    run_tasks()
    seen: list[int] = []
    original = rerun.retry_now

    def spy(database: str, ids: list[object], **kwargs: object) -> rerun.Report:
        seen.append(len(ids))
        return original(database, ids, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(rerun, "retry_now", spy)
    report = operations.retry_now(tag="batch", status="failed")
    assert report.changed == 7 and seen == [3, 3, 1]
    assert models.Task.objects.filter(status="failed").count() == 1


def test_operations_need_a_selection() -> None:
    with pytest.raises(InvalidQuery, match="needs task ids or at least one filter"):
        operations.requeue()
    with pytest.raises(InvalidQuery, match="not both"):
        operations.retry_now(["0190a0a0-0000-7000-8000-000000000000"], name="tests.tasks.add")
    with pytest.raises(InvalidQuery, match="task_ids must be task ids"):
        operations.retry_now(["not-an-id"])


def test_a_misspelt_filter_is_refused_not_ignored() -> None:
    task = failed_task()
    with pytest.raises(TypeError, match="unexpected keyword argument 'stauts'"):
        operations.retry_now([task.id], stauts="failed")  # type: ignore[call-arg]
    assert models.Task.objects.get(pk=task.id).status == "failed"


def test_async_twins() -> None:
    task = failed_task()
    report = async_to_sync(operations.aretry_now)(task.pk, by="dora")
    assert report.changed == 1
    run_tasks()
    report = async_to_sync(operations.arequeue)(task.pk)
    assert report.changed == 1
    assert models.Task.objects.filter(original=task.pk).count() == 1
    copy = models.Task.objects.get(original=task.pk)
    assert async_to_sync(operations.acancel_selected)([copy.pk]).changed == 1
    retried = async_to_sync(operations.aretry_with_arguments)(copy.pk, args=["x"], kwargs={})
    assert models.Task.objects.get(pk=retried.id).args == ["x"]
    assert async_to_sync(operations.adiscard)([task.pk]).changed == 1
    assert async_to_sync(operations.arecover_stuck)([copy.pk]).changed == 0


def test_requeue_waits_for_a_retry_delay_never() -> None:
    result = tasks.add.enqueue(1, 1)
    run_tasks()
    later = timezone.now() + timedelta(hours=1)
    models.Task.objects.filter(pk=result.id).update(run_after=later)
    report = operations.requeue(result.id)
    assert models.Task.objects.get(pk=report.new_ids[0]).run_after <= timezone.now()


def test_retry_now_of_two_failed_copies_of_one_unique_task_queues_one() -> None:
    # Both pass the statement's check against other copies; the index
    # refuses the second, and the chunk is redone row by row.
    first = tasks.unique_add.enqueue(1, 1).id
    models.Task.objects.filter(pk=first).update(status="failed")
    second = tasks.unique_add.enqueue(1, 1).id
    models.Task.objects.filter(pk=second).update(status="failed")
    report = operations.retry_now([first, second], by="erin")
    assert report.changed == 1
    assert dict(report.refused) == {"a copy of this unique task is already queued or running": 1}
    assert models.Task.objects.filter(status="queued").count() == 1
    assert models.Event.objects.filter(kind=EventKind.RETRIED).count() == 1


def test_retry_with_arguments_checks_types_and_leaves_the_context_to_the_worker() -> None:
    result = tasks.fail_until_attempt.enqueue(9)
    models.Task.objects.filter(pk=result.id).update(status="failed")
    with pytest.raises(TypeError, match=r"fail_until_attempt\(\) argument 'succeed_on' is str"):
        operations.retry_with_arguments(result.id, args=["1"], kwargs={})
    with pytest.raises(TypeError, match="missing a required argument: 'succeed_on'"):
        operations.retry_with_arguments(result.id, args=[], kwargs={})
    assert models.Task.objects.count() == 1
    retried = operations.retry_with_arguments(result.id, args=[1], kwargs={}, by="fay")
    run_tasks()
    copy = models.Task.objects.get(pk=retried.id)
    assert (str(copy.original), copy.status, copy.result) == (result.id, "succeeded", 1)


def test_retry_with_arguments_refuses_an_unfinished_task() -> None:
    result = tasks.add.enqueue(1, 2)
    with pytest.raises(InvalidQuery, match="is still queued: nothing to retry"):
        operations.retry_with_arguments(result.id, args=[1, 2], kwargs={})
