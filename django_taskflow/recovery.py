"""Leases, and attempts that end without an outcome of their own.

A running task's lease is renewed while its worker lives. When it cannot
finish normally, one guarded write ends its attempt: handed back unstarted
(uncharged), lost with its worker, interrupted by a forced stop, or timed
out past its hard limit; ``recover_expired`` does it for workers that
vanished. Like ``transitions.py``, each write is filtered on the state the
caller read, and losing the race is normal.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import connections, transaction
from django.db.models import F
from django.db.models.functions import Greatest, Now
from django.tasks import task_backends
from django.tasks.exceptions import InvalidTaskBackend

from django_taskflow import cancellation, counters, events, models, results, signals
from django_taskflow.conf import Options
from django_taskflow.db import LeaseUntil, dialect_for
from django_taskflow.exceptions import (
    HardTimeLimitExceeded,
    UnknownTask,
    WorkerInterrupted,
    WorkerLost,
)
from django_taskflow.execution.outcome import class_path, has_attempts_left, is_lost_for_good
from django_taskflow.models import EventKind
from django_taskflow.policies import delay_after
from django_taskflow.states import AttemptOutcome, OnLost, Status

logger = logging.getLogger(__name__)


def extend_leases(database: str, worker_id: str, seconds: float) -> int:
    """Make every lease ``worker_id`` holds last ``seconds`` more; return how many.

    Lease times are the database's clock, not this host's. Never shortens a
    lease a task extended itself (``context.extend_lease``).
    """
    return (
        models.Task.objects.using(database)
        .filter(status=Status.RUNNING, worker_id=worker_id)
        .update(lease_expires_at=Greatest(F("lease_expires_at"), LeaseUntil(seconds)))
    )


def extend_lease(database: str, worker_id: str, task_id: uuid.UUID, seconds: float) -> bool:
    """Make one task's lease last at least ``seconds`` more (by the database's
    clock); False if ``worker_id`` no longer holds it."""
    return bool(
        models.Task.objects.using(database)
        .filter(pk=task_id, status=Status.RUNNING, worker_id=worker_id)
        .update(lease_expires_at=Greatest(F("lease_expires_at"), LeaseUntil(seconds)))
    )


def hand_back(database: str, worker_id: str, task_ids: Iterable[uuid.UUID]) -> int:
    """Return claimed tasks that never started to the queue, uncounted."""
    ids = list(task_ids)
    if not ids:
        return 0
    with transaction.atomic(using=database):
        held = models.Task.objects.using(database).filter(
            pk__in=ids, status=Status.RUNNING, worker_id=worker_id
        )
        # A task cancelled while it waited in the slot is never queued again.
        cancelled = list(held.filter(cancel_requested_at__isnull=False))
        for task in cancelled:
            cancellation.end_unstarted(database, task, worker_id)
        count = held.filter(cancel_requested_at__isnull=True).update(
            status=Status.QUEUED,
            worker_id=None,
            lease_expires_at=None,
            attempts=F("attempts") - 1,
        )
        _notify(database)
    logger.info(
        "handed back %d unstarted tasks",
        count,
        extra={"action": "tasks_handed_back", "worker_id": worker_id},
    )
    return count


def _notify(database: str) -> None:
    with connections[database].cursor() as cursor:
        dialect_for(database).notify(cursor)


_ABRUPT_ERRORS: dict[AttemptOutcome, type[BaseException]] = {
    AttemptOutcome.LOST: WorkerLost,
    AttemptOutcome.INTERRUPTED: WorkerInterrupted,
    AttemptOutcome.TIMED_OUT: HardTimeLimitExceeded,
}


def _max_lost_attempts(backend: str) -> int:
    """``OPTIONS["MAX_LOST_ATTEMPTS"]`` of the task's own backend (the default if it is gone)."""
    try:
        config = getattr(task_backends[backend], "config", None)
    except InvalidTaskBackend:
        config = None
    return config.max_lost_attempts if isinstance(config, Options) else Options().max_lost_attempts


@dataclass(frozen=True, slots=True)
class _AbruptEnd:
    """What follows an attempt that ended without a result."""

    final: bool
    run_after: datetime
    error: BaseException


def _decide_abrupt_end(
    task: models.Task, outcome: AttemptOutcome, now: datetime, message: str | None
) -> _AbruptEnd:
    error_class = _ABRUPT_ERRORS[outcome]
    if outcome == AttemptOutcome.TIMED_OUT:
        # The task's own failure: it uses up an attempt and waits for its policy.
        final = not has_attempts_left(
            attempt=task.attempts, lost_attempts=task.lost_attempts, max_attempts=task.max_attempts
        )
        delay = 0.0 if final else delay_after(task.retry_policy, task.counted_attempts)
        run_after = max(task.run_after, now + timedelta(seconds=delay))
        return _AbruptEnd(final, run_after, error_class(message) if message else error_class())
    # Lost or interrupted mid-run: the worker's failure, so it does not use
    # up max_attempts. It fails only if it must not run twice, or (lost) if
    # it keeps killing its worker.
    must_not_repeat = task.on_lost == OnLost.FAIL
    run_after = task.run_after
    if outcome == AttemptOutcome.LOST:
        lost = task.lost_attempts + 1
        max_lost = _max_lost_attempts(task.backend)
        final = is_lost_for_good(
            lost_attempts=lost, on_lost=task.on_lost, max_lost_attempts=max_lost
        )
        if final and not must_not_repeat:
            message = f"lost {lost} times (OPTIONS['MAX_LOST_ATTEMPTS'] = {max_lost})"
        if not final:
            # Not at once: a task that crashed its worker must not come
            # straight back and do it again.
            delay = delay_after(task.retry_policy, lost)
            run_after = max(task.run_after, now + timedelta(seconds=delay))
    else:
        final = must_not_repeat
    if final and must_not_repeat:
        message = f"{message or error_class.__doc__}; on_lost='fail' forbids running it again"
    return _AbruptEnd(final, run_after, error_class(message) if message else error_class())


def end_attempt_abruptly(
    database: str,
    task: models.Task,
    *,
    outcome: AttemptOutcome,
    now: datetime,
    message: str | None = None,
    expired_before: datetime | Now | None = None,
) -> bool:
    """Record that ``task``'s running attempt ended without a result.

    ``TIMED_OUT`` (the hard limit passed and the task would not stop) counts
    against ``max_attempts`` and waits for the retry policy's delay. ``LOST``
    (its worker died mid-run) and ``INTERRUPTED`` (a forced shutdown) are
    the worker's failure: the task is queued again at once, except that a
    task with ``on_lost="fail"`` fails, and a ``LOST`` one also fails once it
    has been lost ``OPTIONS["MAX_LOST_ATTEMPTS"]`` times. A lost or
    interrupted attempt adds to ``lost_attempts``, so it does not use up
    ``max_attempts``. Returns
    False when someone else changed the task first: the guard is the status,
    the worker and the attempt number read in ``task``, and with
    ``expired_before`` also a lease that has not been renewed since.
    """
    if task.cancel_requested_at is not None:
        return cancellation.end_attempt(
            database, task, outcome=outcome, now=now, expired_before=expired_before
        )
    end = _decide_abrupt_end(task, outcome, now, message)
    final, error = end.final, end.error
    with transaction.atomic(using=database):
        guard = cancellation.attempt_row(database, task, expired_before)
        if not final:
            # A task cancelled since it was read is never queued again.
            guard = guard.filter(cancel_requested_at__isnull=True)
        # Lost and interrupted attempts are the worker's failure: they are
        # counted apart, so they do not use up max_attempts.
        uncharged = 0 if outcome == AttemptOutcome.TIMED_OUT else 1
        won = guard.update(
            status=Status.FAILED if final else Status.QUEUED,
            worker_id=None,
            lease_expires_at=None,
            run_after=end.run_after,
            finished_at=now if final else None,
            lost_attempts=F("lost_attempts") + uncharged,
        )
        if not won:
            cancelled = (
                None
                if final
                else cancellation.attempt_row(database, task, expired_before)
                .filter(cancel_requested_at__isnull=False)
                .first()
            )
            if cancelled is not None:
                return cancellation.end_attempt(
                    database, cancelled, outcome=outcome, now=now, expired_before=expired_before
                )
            logger.debug("task %s changed before it could be recovered", task.pk)
            return False
        models.Attempt.objects.using(database).create(
            task_id=task.pk,
            number=task.attempts,
            worker_id=task.worker_id or "",
            finished_at=now,
            outcome=outcome,
            error_class=class_path(error),
            error_message=str(error),
        )
        counters.count_abrupt_end(
            database, task, outcome=outcome, status=Status.FAILED if final else Status.QUEUED
        )
        events.record_event(
            task,
            EventKind.FAILED if final else EventKind.RETRYING,
            attempt=task.attempts,
            data={
                "error_class": class_path(error),
                "error_message": str(error),
                "outcome": outcome.value,
                **({} if final else {"retry_at": end.run_after.isoformat()}),
            },
            database=database,
            now=now,
        )
        if final:
            transaction.on_commit(lambda: _announce_finished(database, task.pk), using=database)
        else:
            _notify(database)
    logger.warning(
        "task %s attempt %d %s on worker %s; %s",
        task.pk,
        task.attempts,
        outcome.value,
        task.worker_id,
        "failed for good" if final else "queued again",
        extra={
            "action": f"attempt_{outcome.value}",
            "task_id": str(task.pk),
            "worker_id": task.worker_id,
        },
    )
    return True


def _announce_finished(database: str, task_id: uuid.UUID) -> None:
    try:
        snapshot = results.load(database, str(task_id))
    except UnknownTask:
        return  # no definition to describe it with; the row and attempt say it all
    signals.send_from_worker(
        signals.task_finished, type(snapshot.task.get_backend()), task_result=snapshot
    )


def recover_expired(database: str, now: datetime, limit: int = 100) -> int:
    """Requeue (or fail) tasks whose lease expired; each becomes a lost attempt.

    The fallback when a whole worker host is gone: nobody knows which of
    the tasks it held had started, so each is charged a lost attempt.
    Expiry is judged by the database's clock; ``now`` dates the lost
    attempt and its retry.
    """
    expired = list(
        models.Task.objects.using(database).lease_expired().order_by("lease_expires_at")[:limit]
    )
    return sum(
        end_attempt_abruptly(
            database, task, outcome=AttemptOutcome.LOST, now=now, expired_before=Now()
        )
        for task in expired
    )


def time_out(
    database: str,
    worker_id: str,
    task_id: uuid.UUID,
    *,
    attempt: int,
    hard_limit: float | None,
    now: datetime,
) -> bool:
    """Record that attempt ``attempt`` of ``task_id`` ran past its hard limit
    in code that could not be interrupted, so its slot was killed.

    Returns False if ``worker_id`` no longer holds that attempt.
    """
    task = (
        models.Task.objects.using(database)
        .filter(pk=task_id, status=Status.RUNNING, worker_id=worker_id, attempts=attempt)
        .first()
    )
    if task is None:
        return False
    message = (
        f"the attempt ran past its hard time limit ({hard_limit or 0:g} s) in code that "
        "could not be interrupted; its slot was killed"
    )
    return end_attempt_abruptly(
        database, task, outcome=AttemptOutcome.TIMED_OUT, now=now, message=message
    )


def release_worker(
    database: str,
    worker_id: str,
    *,
    outcome: AttemptOutcome,
    now: datetime,
    started: Mapping[uuid.UUID, int] | None = None,
) -> int:
    """End every attempt ``worker_id`` still holds (it died or was stopped).

    ``started`` maps the ids of the tasks whose body had started (the slot's
    running marks) to their attempt number: those attempts end with
    ``outcome``, and every other task it held goes back to the queue with
    no attempt charged. ``None`` (nothing known) ends every attempt with
    ``outcome``. Returns how many attempts were ended or handed back.
    """
    held = list(models.Task.objects.using(database).running().filter(worker_id=worker_id))
    if started is None:
        return sum(end_attempt_abruptly(database, task, outcome=outcome, now=now) for task in held)
    ran = [task for task in held if started.get(task.pk) == task.attempts]
    unstarted = [task.pk for task in held if started.get(task.pk) != task.attempts]
    ended = sum(end_attempt_abruptly(database, task, outcome=outcome, now=now) for task in ran)
    return ended + hand_back(database, worker_id, unstarted)
