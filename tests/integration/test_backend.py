"""The django.tasks contract on our backend: enqueue, get_result, statuses."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from asgiref.sync import sync_to_async
from django.db import connections, transaction
from django.tasks import TaskResultStatus, default_task_backend, task_backends
from django.tasks.exceptions import TaskResultDoesNotExist, TaskResultMismatch
from django.utils import timezone

from django_taskflow import UnserializablePayload, models
from django_taskflow.backend import TaskflowBackend
from django_taskflow.testing import run_tasks
from tests import tasks

pytestmark = pytest.mark.django_db


def test_default_backend_is_taskflow() -> None:
    assert isinstance(task_backends["default"], TaskflowBackend)
    assert default_task_backend.supports_defer
    assert default_task_backend.supports_async_task
    assert default_task_backend.supports_get_result
    assert default_task_backend.supports_priority


def test_enqueue_writes_a_queued_row() -> None:
    result = tasks.add.enqueue(2, 3)
    assert result.status == TaskResultStatus.READY
    row = models.Task.objects.get(pk=result.id)
    assert row.status == "queued"
    assert row.task_path == "tests.tasks.add"
    assert row.args == [2, 3]
    assert row.attempts == 0


def test_result_is_readable_after_the_worker_runs() -> None:
    result = tasks.add.enqueue(2, 3)
    assert run_tasks() == 1
    fetched = default_task_backend.get_result(result.id)
    assert fetched.status == TaskResultStatus.SUCCESSFUL
    assert fetched.return_value == 5
    assert fetched.attempts == 1
    result.refresh()
    assert result.return_value == 5
    assert result.finished_at is not None
    assert result.started_at is not None


def test_task_get_result_checks_the_task_matches() -> None:
    result = tasks.add.enqueue(1, 1)
    assert tasks.add.get_result(result.id).id == result.id
    with pytest.raises(TaskResultMismatch):
        tasks.noop.get_result(result.id)


@pytest.mark.parametrize("missing", ["01a219a7-820b-7235-9f13-0bb4bc84e2de", "not-a-uuid"])
def test_get_result_of_unknown_id_raises_does_not_exist(missing: str) -> None:
    with pytest.raises(TaskResultDoesNotExist):
        default_task_backend.get_result(missing)


def test_plain_django_task_runs_on_our_backend() -> None:
    result = tasks.plain_multiply.enqueue(6, 7)
    run_tasks()
    assert tasks.plain_multiply.get_result(result.id).return_value == 42


def test_django_task_decorator_passes_our_options() -> None:
    result = tasks.plain_with_options.enqueue()
    run_tasks()
    run_tasks()
    result.refresh()
    assert result.status == TaskResultStatus.FAILED
    assert result.attempts == 2
    assert [e.exception_class for e in result.errors] == [RuntimeError, RuntimeError]


def test_async_task_runs() -> None:
    result = tasks.async_add.enqueue(1, 2)
    run_tasks()
    result.refresh()
    assert result.return_value == 3


@pytest.mark.django_db(transaction=True)
def test_aenqueue_and_aget_result() -> None:
    async def scenario() -> object:
        result = await tasks.add.aenqueue(4, 5)
        status = (await default_task_backend.aget_result(result.id)).status
        await sync_to_async(connections.close_all)()  # the executor thread's connection
        return status

    assert asyncio.run(scenario()) == TaskResultStatus.READY


def test_context_carries_the_key_and_tags_given_at_enqueue() -> None:
    seen = []

    def spy(task, context, call_next):  # type: ignore[no-untyped-def]
        seen.append((context.key, context.tags))
        return call_next()

    from django_taskflow.execution import middleware

    middleware.use(spy)
    try:
        tasks.add.using(key="order-9", tags=["shop", "eu"]).enqueue(1, 2)
        run_tasks()
    finally:
        middleware.clear()
    assert seen == [("order-9", ("shop", "eu"))]


def test_context_carries_attempt_and_task_id() -> None:
    result = tasks.whoami.enqueue()
    run_tasks()
    result.refresh()
    assert result.return_value["task_id"] == result.id
    assert result.return_value["attempt"] == 1


def test_non_json_argument_is_refused_and_nothing_is_written() -> None:
    with pytest.raises(UnserializablePayload, match=r"args\[0\]"):
        tasks.echo.enqueue({1, 2})
    with pytest.raises(TypeError):
        tasks.echo.enqueue(timezone.now())
    assert not models.Task.objects.exists()


def test_tuples_come_back_as_lists_as_they_are_stored() -> None:
    result = tasks.echo.enqueue((1, (2, 3)))
    assert result.args == [[1, [2, 3]]]
    assert type(result.args[0][1]) is list
    assert models.Task.objects.get(pk=result.id).args == [[1, [2, 3]]]
    run_tasks()
    result.refresh()
    assert result.return_value == [1, [2, 3]]


def test_enqueue_many_is_all_or_nothing() -> None:
    with pytest.raises(UnserializablePayload):
        tasks.echo.enqueue_many([(1,), (2,), (object(),)])
    assert not models.Task.objects.exists()
    results = tasks.echo.enqueue_many([(1,), {"value": 2}])
    assert [r.args for r in results] == [[1], []]
    assert models.Task.objects.count() == 2


def test_using_overrides_options_per_enqueue() -> None:
    result = tasks.add.using(
        queue_name="emails", priority=10, key="order-7", tags=["x"], max_attempts=4
    ).enqueue(1, 2)
    row = models.Task.objects.get(pk=result.id)
    assert (row.queue_name, row.priority, row.key, row.tags, row.max_attempts) == (
        "emails",
        10,
        "order-7",
        ["x"],
        4,
    )


def test_run_after_defers_the_task() -> None:
    later = timezone.now() + timedelta(hours=1)
    result = tasks.add.using(run_after=later).enqueue(1, 2)
    assert run_tasks() == 0
    assert models.Task.objects.get(pk=result.id).status == "queued"


def test_higher_priority_runs_first() -> None:
    low = tasks.add.using(priority=-5).enqueue(0, 1)
    high = tasks.add.using(priority=50).enqueue(0, 2)
    middle = tasks.add.enqueue(0, 3)
    run_tasks()
    order = list(models.Task.objects.order_by("started_at").values_list("id", flat=True))
    assert [str(pk) for pk in order] == [high.id, middle.id, low.id]


def test_enqueue_in_rolled_back_transaction_leaves_nothing() -> None:
    def enqueue_then_fail() -> None:
        with transaction.atomic():
            tasks.add.enqueue(1, 2)
            raise RuntimeError("roll back")

    with pytest.raises(RuntimeError):
        enqueue_then_fail()
    assert not models.Task.objects.exists()
    assert run_tasks() == 0


def test_task_enqueued_signal_is_sent_after_commit(django_capture_on_commit_callbacks) -> None:
    from django.tasks.signals import task_enqueued

    seen: list[str] = []

    def receiver(sender: object, task_result: object, **kwargs: object) -> None:
        seen.append(task_result.id)  # type: ignore[attr-defined]

    task_enqueued.connect(receiver)
    try:
        with django_capture_on_commit_callbacks(execute=True):
            result = tasks.add.enqueue(1, 2)
            assert seen == []
    finally:
        task_enqueued.disconnect(receiver)
    assert seen == [result.id]


@pytest.mark.django_db(transaction=True)
def test_wait_raises_result_timeout_while_nothing_runs_it() -> None:
    from django_taskflow import ResultTimeout

    result = tasks.add.enqueue(1, 2)
    with pytest.raises(ResultTimeout, match="still Ready"):
        result.wait(timeout=0.05)

    async def scenario() -> None:
        try:
            await result.await_(timeout=0.05)
        finally:
            await sync_to_async(connections.close_all)()

    with pytest.raises(TimeoutError):
        asyncio.run(scenario())


@pytest.mark.django_db(transaction=True)
def test_await_returns_the_finished_result() -> None:
    result = tasks.add.enqueue(20, 22)
    run_tasks()

    async def scenario() -> object:
        finished = await result.await_(timeout=5)
        await sync_to_async(connections.close_all)()
        return finished.return_value

    assert asyncio.run(scenario()) == 42


def test_task_finished_signal_carries_the_return_value() -> None:
    from django.tasks.signals import task_finished

    seen: list[object] = []

    def receiver(sender: object, task_result: object, **kwargs: object) -> None:
        seen.append(task_result.return_value)  # type: ignore[attr-defined]

    task_finished.connect(receiver)
    try:
        tasks.add.enqueue(40, 2)
        run_tasks()
    finally:
        task_finished.disconnect(receiver)
    assert seen == [42]
