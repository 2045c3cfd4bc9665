"""Pause, resume, queue limits, capabilities and why a task waits, in one process.

The cross-worker guarantees are in tests/processes/test_queue_flow.py;
here the operations, the claim's filters and the display are checked
with ``run_tasks()`` and direct claims.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.db import connections
from django.test import Client, override_settings
from django.urls import reverse
from django.utils import timezone

from django_taskflow import (
    InvalidQueueOperation,
    InvalidTaskOptions,
    aresume_queue,
    aset_queue_limit,
    models,
    pause_queue,
    resume_queue,
    set_queue_limit,
    task,
)
from django_taskflow.claim import claim_batch
from django_taskflow.states import Status
from django_taskflow.testing import run_tasks
from django_taskflow.waiting import why_waiting
from tests import tasks

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def no_pause_wait(monkeypatch: pytest.MonkeyPatch) -> None:
    # pause_queue waits for workers to see it; none runs here.
    monkeypatch.setattr("django_taskflow.operations.time.sleep", lambda seconds: None)


def claim(queue: str, *, limit: int = 10, **options: Any) -> list[Any]:
    return claim_batch(
        database="default",
        worker_id="W",
        queues=[queue],
        limit=limit,
        lease_seconds=30,
        now=timezone.now(),
        **options,
    )


def status(result: Any) -> str:
    return str(models.Task.objects.get(pk=result.id).status)


def test_a_paused_queue_keeps_its_tasks_queued_until_resumed() -> None:
    emails = tasks.add.using(queue_name="emails")
    held = emails.enqueue(1, 1)
    other = tasks.add.enqueue(2, 2)
    pause_queue("emails")
    assert run_tasks(queues=["default", "emails"]) == 1
    assert status(held) == Status.QUEUED
    assert status(other) == Status.SUCCEEDED
    # A worker serving every queue skips it too.
    assert run_tasks() == 0
    resume_queue("emails")
    assert run_tasks(queues=["default", "emails"]) == 1
    assert status(held) == Status.SUCCEEDED


def test_operations_write_one_row_per_queue() -> None:
    pause_queue("emails")
    set_queue_limit("emails", 3)
    resume_queue("emails")
    [row] = models.QueueState.objects.all()
    assert (row.backend, row.name, row.paused, row.limit_override) == (
        "default",
        "emails",
        False,
        3,
    )
    set_queue_limit("emails", None)
    row.refresh_from_db()
    assert row.limit_override is None


@pytest.mark.django_db(transaction=True)
def test_async_twins_do_the_same() -> None:
    async def steer() -> None:
        await aset_queue_limit("emails", 4)
        await aresume_queue("emails")
        await sync_to_async(connections.close_all)()  # the executor thread's connection

    asyncio.run(steer())
    row = models.QueueState.objects.get(name="emails")
    assert (row.paused, row.limit_override) == (False, 4)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: pause_queue("nope"), "queue 'nope' is not in TASKS['default']['QUEUES'] ("),
        (lambda: pause_queue(""), "queue must be the name of a queue, got ''."),
        (lambda: resume_queue("emails", backend="other"), "backend 'other' is not in TASKS."),
        (
            lambda: set_queue_limit("emails", 0),
            "limit of queue 'emails' must be None or a whole number of at least 1, got 0. "
            "To stop a queue altogether, use pause_queue('emails').",
        ),
        (lambda: set_queue_limit("emails", True), "must be None or a whole number"),
    ],
)
def test_bad_queue_operations_raise_and_write_nothing(call: Any, message: str) -> None:
    with pytest.raises(InvalidQueueOperation, match=None) as info:
        call()
    assert message in str(info.value)
    assert isinstance(info.value, ValueError)
    assert not models.QueueState.objects.exists()


def test_a_limited_claim_takes_only_the_room_left_under_the_limit() -> None:
    tasks.add.using(queue_name="emails").enqueue_many([(n, n) for n in range(6)])
    assert len(claim("emails", queue_limit=2)) == 2
    assert claim("emails", queue_limit=2) == []  # prefetched or running, they count
    assert len(claim("emails", queue_limit=5)) == 3
    # Other queues are not counted.
    tasks.add.enqueue_many([(1, 1)] * 3)
    assert len(claim("default", queue_limit=3)) == 3


@override_settings(
    TASKS={
        "default": {
            "BACKEND": "django_taskflow.backend.TaskflowBackend",
            "QUEUES": ["default", "emails"],
            "OPTIONS": {"QUEUE_LIMITS": {"emails": 1}},
        }
    }
)
def test_the_setting_limits_a_queue_and_an_override_replaces_it() -> None:
    results = tasks.add.using(queue_name="emails").enqueue_many([(n, n) for n in range(3)])
    held = claim("emails", limit=1)  # another worker runs one
    assert held
    assert run_tasks(queues=["emails"]) == 0
    waiting = models.Task.objects.filter(status=Status.QUEUED).first()
    assert waiting is not None
    [reason] = why_waiting(waiting)
    assert reason.kind == "queue_limit"
    assert reason.message == (
        "queue 'emails' is at its limit: 1 running of 1 (OPTIONS[\"QUEUE_LIMITS\"])"
    )
    set_queue_limit("emails", 3)
    assert run_tasks(queues=["emails"]) == 2
    assert sorted(status(r) for r in results).count(Status.SUCCEEDED) == 2


def test_a_task_runs_only_where_every_capability_it_requires_is_offered() -> None:
    needs = tasks.needs_gpu.enqueue()
    plain = tasks.add.enqueue(1, 1)
    assert run_tasks() == 1
    assert status(plain) == Status.SUCCEEDED
    assert run_tasks(capabilities=["eu-west"]) == 0
    assert status(needs) == Status.QUEUED
    assert run_tasks(capabilities=["gpu", "eu-west"]) == 1
    assert status(needs) == Status.SUCCEEDED


def test_requirements_are_stored_sorted_and_null_when_there_are_none() -> None:
    needs = tasks.needs_gpu.using(requires={"gpu", "eu-west"}).enqueue()
    plain = tasks.add.enqueue(1, 1)
    assert models.Task.objects.get(pk=needs.id).requires == ["eu-west", "gpu"]
    assert models.Task.objects.get(pk=plain.id).requires is None
    assert models.Task.objects.filter(requires__isnull=True).count() == 1
    # using(requires=()) lifts the requirement for one enqueue.
    freed = tasks.needs_gpu.using(requires=()).enqueue()
    assert models.Task.objects.get(pk=freed.id).requires is None


def test_why_a_task_waits() -> None:
    later = tasks.add.using(run_after=timezone.now() + timezone.timedelta(hours=1)).enqueue(1, 1)
    needs = tasks.needs_gpu.using(queue_name="emails").enqueue()
    pause_queue("emails")
    row = models.Task.objects.get(pk=later.id)
    assert [reason.kind for reason in why_waiting(row)] == ["run_after"]
    assert why_waiting(row)[0].until == row.run_after
    reasons = why_waiting(models.Task.objects.get(pk=needs.id))
    assert [reason.message for reason in reasons] == [
        "queue 'emails' is paused",
        "a worker offering gpu (taskworker --capabilities gpu)",
    ]
    assert why_waiting(models.Task.objects.get(pk=tasks.add.enqueue(1, 1).id)) == []


def test_the_admin_shows_what_a_task_waits_for(admin_client: Client) -> None:
    needs = tasks.needs_gpu.enqueue()
    response = admin_client.get(reverse("admin:django_taskflow_task_change", args=[needs.id]))
    page = response.content.decode()
    assert "waiting for" in page.lower()
    assert "a worker offering gpu (taskworker --capabilities gpu)" in page


@pytest.mark.parametrize(
    "requires",
    ["gpu", {""}, {"gpu,cuda"}, {" gpu"}, {1}, {"x" * 101}, {"a\x00b"}, None],
)
def test_bad_requirements_are_refused_at_definition(requires: Any) -> None:
    with pytest.raises(InvalidTaskOptions, match=r"^requires of task add must be a set of"):
        task(requires=requires)(tasks.add.func)
    with pytest.raises(InvalidTaskOptions, match=r"^requires of task add must be a set of"):
        tasks.add.using(requires=requires if requires is not None else 5)


def test_requirements_may_be_a_set_list_or_tuple() -> None:
    for given in ({"gpu"}, ["gpu"], ("gpu",), frozenset({"gpu"})):
        assert task(requires=given)(tasks.add.func).requires == frozenset({"gpu"})


def test_django_decorator_passes_requires_through() -> None:
    definition = tasks.plain_needs_gpu
    assert definition.requires == {"gpu"}
    result = definition.enqueue()
    assert models.Task.objects.get(pk=result.id).requires == ["gpu"]
    assert run_tasks() == 0
    assert run_tasks(capabilities=["gpu"]) == 1


def test_a_pause_hands_back_the_tasks_a_slot_claimed_but_had_not_started() -> None:
    import math

    from django_taskflow.conf import Options
    from django_taskflow.worker.marks import NO_MARKS
    from django_taskflow.worker.prefetch import Prefetch

    results = tasks.add.using(queue_name="emails").enqueue_many([(n, n) for n in range(5)])
    prefetch = Prefetch(
        options=Options(),
        backend="default",
        queues=("emails",),
        worker_id="W",
        now=timezone.now,
        marks=NO_MARKS,
    )
    prefetch.average_seconds = 0.0001  # short tasks: a full batch
    assert prefetch.claim()
    assert len(prefetch.tasks) == 5
    pause_queue("emails")
    prefetch.control.read_at = -math.inf  # as if half a second had passed
    assert prefetch.take() is None
    assert not prefetch.tasks
    rows = models.Task.objects.filter(pk__in=[r.id for r in results])
    assert {(row.status, row.attempts, row.worker_id) for row in rows} == {(Status.QUEUED, 0, None)}


@override_settings(
    TASKS={
        "default": {
            "BACKEND": "django_taskflow.backend.TaskflowBackend",
            "QUEUES": ["default", "emails", "low"],
            "OPTIONS": {"QUEUE_LIMITS": {"emails": 5}},
        }
    }
)
def test_the_overview_shows_each_queue_with_its_setting_and_override() -> None:
    from django.tasks import task_backends

    from django_taskflow import queue_state

    tasks.add.using(queue_name="emails").enqueue_many([(n, n) for n in range(3)])
    claim("emails", limit=1)
    set_queue_limit("emails", 2)
    pause_queue("low")
    options = task_backends["default"].config  # type: ignore[attr-defined]
    overview = {
        info.name: info
        for info in queue_state.overview(options, "default", ["default", "emails", "low"])
    }
    emails = overview["emails"]
    assert (emails.limit, emails.limit_setting, emails.limit_override) == (2, 5, 2)
    assert (emails.queued, emails.running, emails.paused) == (2, 1, False)
    assert overview["low"].paused
    assert overview["low"].weight == 0.1
    assert (overview["default"].queued, overview["default"].limit) == (0, None)
