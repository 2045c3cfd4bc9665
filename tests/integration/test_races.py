"""Races between workers: guarded writes keep each transition single-winner."""

from __future__ import annotations

import threading

import pytest
from django.db import OperationalError
from django.db.models.functions import Now
from django.utils import timezone

from django_taskflow import models, recovery, transitions
from django_taskflow.execution import outcome
from django_taskflow.models import EventKind
from django_taskflow.states import AttemptOutcome, Status
from django_taskflow.testing import run_tasks
from django_taskflow.worker.options import WorkerOptions
from django_taskflow.worker.slot import Slot
from tests import tasks
from tests.conftest import claim_for, expire_leases

pytestmark = pytest.mark.django_db


def claim(worker_id: str, lease_seconds: float = 30):  # type: ignore[no-untyped-def]
    [claimed] = claim_for(worker_id, lease_seconds=lease_seconds)
    return claimed


def slot_for(worker_id: str) -> Slot:
    options = WorkerOptions()
    return Slot(
        options=options.backend_options,
        backend="default",
        queues=options.queue_names,
        worker_id=worker_id,
        stop=threading.Event(),
        inline=True,
    )


def test_a_stopping_worker_cannot_interrupt_an_attempt_it_no_longer_holds() -> None:
    result = tasks.add.using(max_attempts=5).enqueue(1, 2)
    stale = claim("A")
    expire_leases("A")
    recovery.recover_expired("default", timezone.now())
    models.Task.objects.filter(pk=result.id).update(run_after=timezone.now())
    claim("B")
    slot_for("A")._interrupt(stale)  # A is forced to stop, with an old idea of its task
    row = models.Task.objects.get(pk=result.id)
    assert (row.status, row.worker_id, row.attempts) == (Status.RUNNING, "B", 2)
    assert [a.outcome for a in row.attempt_set.all()] == [AttemptOutcome.LOST]


def test_recovery_loses_to_a_lease_renewed_after_it_looked() -> None:
    result = tasks.add.enqueue(1, 2)
    claim("slow")
    expire_leases("slow")
    [expired] = models.Task.objects.lease_expired()
    recovery.extend_lease("default", "slow", expired.pk, 30)
    assert not recovery.end_attempt_abruptly(
        "default", expired, outcome=AttemptOutcome.LOST, now=timezone.now(), expired_before=Now()
    )
    assert models.Task.objects.get(pk=result.id).status == Status.RUNNING


def test_a_lock_timeout_while_recording_is_retried_not_stored_as_a_failure(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    result = tasks.add.enqueue(1, 2)
    claimed = claim("w")
    now = timezone.now()
    completion = transitions.Completion(
        task=claimed, outcome=outcome.succeeded("3"), started_at=now, finished_at=now
    )

    def locked(*args: object, **kwargs: object) -> None:
        raise OperationalError("database is locked")

    monkeypatch.setattr(transitions, "_write", locked)
    with pytest.raises(OperationalError):
        transitions.record_batch("default", "w", [completion])
    monkeypatch.undo()
    assert models.Task.objects.get(pk=result.id).status == Status.RUNNING
    kept, _ = transitions.record_batch("default", "w", [completion])  # the retry
    assert kept == [completion]
    assert models.Task.objects.get(pk=result.id).result == 3


@pytest.mark.django_db(transaction=True)  # foreign keys are checked at commit
def test_an_event_for_a_deleted_task_does_not_sink_the_batch() -> None:
    doomed = tasks.add.enqueue(1, 1)
    kept_task = tasks.add.enqueue(2, 2)
    first, second = (claim("w"), claim("w"))
    gone = first if str(first.id) == doomed.id else second
    done = second if gone is first else first
    now = timezone.now()
    note = transitions.Note(task=gone, kind=EventKind.STARTED, at=now, data={})
    models.Task.objects.filter(pk=doomed.id).delete()
    completion = transitions.Completion(
        task=done, outcome=outcome.succeeded("4"), started_at=now, finished_at=now
    )
    try:
        kept, written = transitions.record_batch("default", "w", [completion], [note])
    except Exception as exc:  # pragma: no cover - the failure this test guards against
        pytest.fail(f"record_batch raised {exc!r}")
    assert kept == [completion]
    assert [e.kind for e in written] == ["succeeded"]
    assert models.Task.objects.get(pk=kept_task.id).status == Status.SUCCEEDED


def test_run_tasks_lets_ctrl_c_through(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from django_taskflow.execution import middleware

    def interrupt(task, context, call_next):  # type: ignore[no-untyped-def]
        raise KeyboardInterrupt

    middleware.use(interrupt)
    try:
        tasks.add.enqueue(1, 1)
        with pytest.raises(KeyboardInterrupt):
            run_tasks()
    finally:
        middleware.clear()
