"""Every status change after claim: one guarded write, with its Attempt row.

Each write is filtered on the state the caller expects (status, worker,
attempt number); the returned count or id set says who won. Losing is
normal (another worker recovered the task) and is logged at DEBUG.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from django.db import DatabaseError, IntegrityError, connections, transaction
from django.db.models import F

from django_taskflow import models, results, signals
from django_taskflow.claim import ClaimedTask
from django_taskflow.db import dialect_for
from django_taskflow.exceptions import UnknownTask, WorkerInterrupted, WorkerLost
from django_taskflow.execution.outcome import Outcome, class_path
from django_taskflow.states import Outcome as AttemptOutcome
from django_taskflow.states import Status

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True, kw_only=True)
class Completion:
    """A finished attempt waiting to be written."""

    task: ClaimedTask
    outcome: Outcome
    started_at: datetime
    finished_at: datetime


def _row(database: str, completion: Completion) -> tuple[object, ...]:
    ops = connections[database].ops
    pk = models.Task._meta.pk
    outcome = completion.outcome
    finished = ops.adapt_datetimefield_value(completion.finished_at)
    return (
        pk.get_db_prep_value(completion.task.id, connections[database]),  # type: ignore[union-attr]
        outcome.status.value,
        outcome.result_json,
        ops.adapt_datetimefield_value(outcome.retry_at),
        ops.adapt_datetimefield_value(completion.started_at),
        finished,
        finished if outcome.is_final else None,
        completion.task.attempt,
        outcome.attempt_outcome.value,
        outcome.error_class,
        outcome.error_message,
        outcome.traceback,
    )


def _write(database: str, worker_id: str, completions: Sequence[Completion]) -> set[uuid.UUID]:
    rows = [_row(database, completion) for completion in completions]
    by_db_id = {
        row[0]: completion.task.id for row, completion in zip(rows, completions, strict=True)
    }
    with transaction.atomic(using=database), connections[database].cursor() as cursor:
        won = dialect_for(database).complete(
            cursor,
            task_table=models.Task._meta.db_table,
            attempt_table=models.Attempt._meta.db_table,
            worker_id=worker_id,
            completions=rows,
        )
    return {by_db_id.get(db_id, db_id) for db_id in won}


def _unstorable(completion: Completion, exc: Exception) -> Completion:
    """Stand-in failure for an outcome the database refused to store."""
    return Completion(
        task=completion.task,
        outcome=Outcome(
            status=Status.FAILED,
            attempt_outcome=AttemptOutcome.FAILED,
            error_class=class_path(exc),
            error_message=f"The database refused to store this attempt's outcome: {exc}",
        ),
        started_at=completion.started_at,
        finished_at=completion.finished_at,
    )


def complete_batch(
    database: str, worker_id: str, completions: Sequence[Completion]
) -> set[uuid.UUID]:
    """Write finished attempts; return the ids whose write won.

    Connection errors propagate (the caller keeps the batch and retries). If
    the database refuses the batch for its content, each completion is
    written alone, and one that is still refused is recorded as failed with
    the database's error, so no task stays ``running``.
    """
    if not completions:
        return set()
    try:
        won = _write(database, worker_id, completions)
    except (IntegrityError, DatabaseError) as exc:
        if _is_connection_error(exc, database):
            raise
        won = set()
        for completion in completions:
            try:
                won |= _write(database, worker_id, [completion])
            except (IntegrityError, DatabaseError) as single_exc:
                if _is_connection_error(single_exc, database):
                    raise
                won |= _write(database, worker_id, [_unstorable(completion, single_exc)])
    for completion in completions:
        task = completion.task
        if task.id in won:
            logger.info(
                "task %s %s (attempt %d)",
                task.task_path,
                completion.outcome.status.value if completion.outcome.is_final else "will retry",
                task.attempt,
                extra={
                    "action": f"task_{completion.outcome.status.value}",
                    "task_id": str(task.id),
                    "worker_id": worker_id,
                },
            )
        else:
            logger.debug(
                "lost the race to record task %s: it was recovered by another worker",
                task.id,
                extra={"action": "transition_lost", "task_id": str(task.id)},
            )
    return won


def _is_connection_error(exc: Exception, database: str) -> bool:
    connection = connections[database]
    return connection.connection is None or not connection.is_usable()


def extend_leases(database: str, worker_id: str, until: datetime) -> int:
    """Renew the lease of every task ``worker_id`` holds; return how many."""
    return (
        models.Task.objects.using(database)
        .filter(status=Status.RUNNING, worker_id=worker_id)
        .update(lease_expires_at=until)
    )


def hand_back(database: str, worker_id: str, task_ids: Iterable[uuid.UUID]) -> int:
    """Return claimed tasks that never started to the queue, uncounted."""
    ids = list(task_ids)
    if not ids:
        return 0
    with transaction.atomic(using=database):
        count = (
            models.Task.objects.using(database)
            .filter(pk__in=ids, status=Status.RUNNING, worker_id=worker_id)
            .update(
                status=Status.QUEUED,
                worker_id=None,
                lease_expires_at=None,
                attempts=F("attempts") - 1,
            )
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


def end_attempt_abruptly(
    database: str,
    task: models.Task,
    *,
    outcome: AttemptOutcome,
    now: datetime,
) -> bool:
    """Record that ``task``'s running attempt ended without a result.

    ``LOST`` (the worker stopped heartbeating) counts against
    ``max_attempts``; ``INTERRUPTED`` (a forced shutdown) always hands the
    task back. Returns False when someone else changed the task first.
    """
    lost = outcome == AttemptOutcome.LOST
    final = lost and task.attempts >= task.max_attempts
    error = WorkerLost() if lost else WorkerInterrupted()
    with transaction.atomic(using=database):
        won = (
            models.Task.objects.using(database)
            .filter(
                pk=task.pk,
                status=Status.RUNNING,
                worker_id=task.worker_id,
                attempts=task.attempts,
            )
            .update(
                status=Status.FAILED if final else Status.QUEUED,
                worker_id=None,
                lease_expires_at=None,
                finished_at=now if final else None,
            )
        )
        if not won:
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
    """Requeue (or fail) tasks whose lease expired; each becomes a lost attempt."""
    expired = list(
        models.Task.objects.using(database).lease_expired(now).order_by("lease_expires_at")[:limit]
    )
    return sum(
        end_attempt_abruptly(database, task, outcome=AttemptOutcome.LOST, now=now)
        for task in expired
    )


def release_worker(database: str, worker_id: str, *, outcome: AttemptOutcome, now: datetime) -> int:
    """End every attempt ``worker_id`` still holds (it died or was stopped)."""
    held = list(models.Task.objects.using(database).running().filter(worker_id=worker_id))
    return sum(end_attempt_abruptly(database, task, outcome=outcome, now=now) for task in held)
