"""A worker slot and its recorder, with the database or our code failing at chosen moments."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from django.db import OperationalError
from django.utils import timezone

from django_taskflow import models, recovery, transitions
from django_taskflow.execution import outcome
from django_taskflow.states import Status
from django_taskflow.worker import prefetch
from django_taskflow.worker.marks import NO_MARKS
from django_taskflow.worker.options import WorkerOptions
from django_taskflow.worker.publisher import Publisher
from django_taskflow.worker.recorder import Recorder
from django_taskflow.worker.slot import Slot
from tests import tasks
from tests.conftest import claim_for

# The slot closes its connection after an error: not inside a test transaction.
pytestmark = pytest.mark.django_db(transaction=True)


def burst_slot(worker_id: str) -> Slot:
    options = WorkerOptions()
    return Slot(
        options=options.backend_options,
        backend="default",
        queues=options.queue_names,
        worker_id=worker_id,
        stop=threading.Event(),
        burst=True,
        inline=True,
    )


def test_a_lease_check_that_cannot_reach_the_database_is_tried_again_not_skipped(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    result = tasks.add.enqueue(1, 2)
    slot = burst_slot("A")
    assert slot.prefetch.claim()
    slot.prefetch.claimed_at -= 3600  # it waited behind a long task
    checks: list[object] = []
    check = recovery.extend_lease

    def unreachable_once(*args: object, **kwargs: object) -> bool:
        checks.append(args)
        if len(checks) == 1:
            raise OperationalError("server closed the connection unexpectedly")
        return check(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(recovery, "extend_lease", unreachable_once)
    slot.run()
    assert len(checks) == 2
    assert models.Task.objects.get(pk=result.id).status == Status.SUCCEEDED


def test_the_recorder_survives_any_exception_and_keeps_the_batch_it_took(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    result = tasks.add.enqueue(1, 2)
    [claimed] = claim_for("A")
    now = timezone.now()
    recorder = Recorder(
        options=WorkerOptions().backend_options,
        worker_id="A",
        marks=NO_MARKS,
        publisher=Publisher(name="A", inline=True),
        stop=threading.Event(),
        now=timezone.now,
    )
    record_batch = transitions.record_batch
    calls: list[int] = []

    def fails_once(*args: Any, **kwargs: Any) -> Any:
        calls.append(len(args[2]))
        if len(calls) == 1:
            raise RuntimeError("a bug of ours")
        return record_batch(*args, **kwargs)

    monkeypatch.setattr(transitions, "record_batch", fails_once)
    recorder.start()
    recorder.add(
        transitions.Completion(
            task=claimed, outcome=outcome.succeeded("3"), started_at=now, finished_at=now
        ),
        None,
    )
    recorder.wait_until_recorded(timeout=30)
    assert recorder.thread is not None and recorder.thread.is_alive()
    recorder.stop()
    assert calls == [1, 1]
    assert models.Task.objects.get(pk=result.id).status == Status.SUCCEEDED


def test_tasks_claimed_by_a_claim_whose_reply_was_lost_are_not_held_forever(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The claim committed, then the connection broke before its rows came
    # back: the slot does not know it holds them, yet its worker id does.
    result = tasks.add.enqueue(1, 2)
    slot = burst_slot("A")
    claim_batch = prefetch.claim_batch
    claims: list[int] = []

    def reply_lost_once(**kwargs: Any) -> Any:
        claims.append(1)
        claimed = claim_batch(**kwargs)
        if len(claims) == 1:
            raise OperationalError("server closed the connection unexpectedly")
        return claimed

    monkeypatch.setattr(prefetch, "claim_batch", reply_lost_once)
    monkeypatch.setattr(slot.prefetch.reconnect, "wait", lambda: None)
    slot.run()
    slot.run()  # the next look at the queue, as a worker that goes on would

    row = models.Task.objects.get(pk=result.id)
    assert (row.status, row.attempts) == (Status.SUCCEEDED, 1)


def test_a_burst_slot_looks_again_when_a_retry_was_written_during_its_empty_claim(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    slot = burst_slot("A")
    claim = slot.prefetch.claim
    looks: list[bool] = []

    def empty_while_the_recorder_commits_a_retry() -> bool:
        if looks:
            looks.append(claim())
            return looks[-1]
        looks.append(claim())  # nothing ready yet: the retry is still being written
        tasks.add.enqueue(1, 2)  # ... and now it is committed, ready at once
        slot.recorder.completions_written += 1
        return looks[-1]

    monkeypatch.setattr(slot.prefetch, "claim", empty_while_the_recorder_commits_a_retry)
    assert slot.run_once()
    assert looks == [False, True]
