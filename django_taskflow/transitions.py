"""Every status change after claim: one guarded write, with its Attempt row.

Each write is filtered on the state the caller expects (status, worker,
attempt number); the returned count or id set says who won. Losing is
normal (another worker recovered the task) and is logged at DEBUG.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import DataError, IntegrityError, connections, transaction
from django.db.models import F, Value
from django.db.models.functions import Greatest

from django_taskflow import events, logs, models, results, signals
from django_taskflow.claim import ClaimedTask
from django_taskflow.db import dialect_for
from django_taskflow.exceptions import (
    HardTimeLimitExceeded,
    UnknownTask,
    WorkerInterrupted,
    WorkerLost,
)
from django_taskflow.execution.outcome import Outcome, class_path
from django_taskflow.models import EventKind
from django_taskflow.policies import delay_after
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


@dataclass(frozen=True, slots=True, kw_only=True)
class Note:
    """Something that happened during an attempt (started, progress, soft
    timeout): an event, written with the slot's next batch."""

    task: ClaimedTask
    kind: EventKind
    at: datetime
    data: dict[str, Any]


def _row(database: str, completion: Completion) -> tuple[object, ...]:
    ops = connections[database].ops
    outcome = completion.outcome
    finished = ops.adapt_datetimefield_value(completion.finished_at)
    return (
        _db_id(database, completion.task.id),
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
        outcome.error_value_json,
    )


def _db_id(database: str, task_id: uuid.UUID) -> Any:
    return models.Task._meta.pk.get_db_prep_value(task_id, connections[database])


def outcome_event(completion: Completion, database: str) -> events.TaskEvent:
    """The event that announces ``completion``'s outcome."""
    outcome = completion.outcome
    data: dict[str, Any] = {}
    if outcome.error_class:
        data = {"error_class": outcome.error_class, "error_message": outcome.error_message}
        if outcome.error_value_json is not None:
            data["error_value"] = json.loads(outcome.error_value_json)
        if outcome.attempt_outcome != AttemptOutcome.FAILED:
            data["outcome"] = outcome.attempt_outcome.value
    if outcome.retry_at is not None:
        data["retry_at"] = outcome.retry_at.isoformat()
    return _event(
        completion.task,
        EventKind(outcome.event_kind),
        completion.finished_at,
        data,
        database,
        result=json.loads(outcome.result_json) if outcome.result_json is not None else None,
    )


def note_event(note: Note, database: str) -> events.TaskEvent:
    return _event(note.task, note.kind, note.at, note.data, database)


def _event(
    task: ClaimedTask,
    kind: EventKind,
    at: datetime,
    data: dict[str, Any],
    database: str,
    result: Any = None,
) -> events.TaskEvent:
    return events.TaskEvent(
        id=None,
        task_id=str(task.id),
        task_name=task.task_path,
        key=task.key,
        tags=task.tags,
        kind=kind,
        attempt=task.attempt,
        created_at=at,
        data=data,
        result=result,
        database=database,
    )


def _event_row(database: str, event: events.TaskEvent) -> tuple[Any, ...]:
    return (
        _db_id(database, uuid.UUID(event.task_id)),
        event.kind.value,
        event.attempt,
        connections[database].ops.adapt_datetimefield_value(event.created_at),
        json.dumps(event.data),
    )


def _write_notes(
    cursor: Any, database: str, worker_id: str, notes: Sequence[Note]
) -> list[events.TaskEvent]:
    written = [note_event(note, database) for note in notes]
    dialect_for(database).insert_events(
        cursor,
        table=models.Event._meta.db_table,
        rows=[_event_row(database, event) for event in written],
    )
    latest_progress = {note.task.id: note for note in notes if note.kind == EventKind.PROGRESS}
    for note in latest_progress.values():
        models.Task.objects.using(database).filter(
            pk=note.task.id, status=Status.RUNNING, worker_id=worker_id
        ).update(progress=note.data["progress"], progress_detail=note.data.get("detail", {}))
    return written


def _write(
    database: str,
    worker_id: str,
    completions: Sequence[Completion],
    notes: Sequence[Note] = (),
) -> tuple[set[uuid.UUID], list[events.TaskEvent]]:
    rows = [_row(database, completion) for completion in completions]
    by_db_id = {
        row[0]: completion.task.id for row, completion in zip(rows, completions, strict=True)
    }
    with transaction.atomic(using=database), connections[database].cursor() as cursor:
        written = _write_notes(cursor, database, worker_id, notes)
        won: set[uuid.UUID] = set()
        if rows:
            won = {
                by_db_id.get(db_id, db_id)
                for db_id in dialect_for(database).complete(
                    cursor,
                    task_table=models.Task._meta.db_table,
                    attempt_table=models.Attempt._meta.db_table,
                    worker_id=worker_id,
                    completions=rows,
                )
            }
        outcomes = [outcome_event(c, database) for c in completions if c.task.id in won]
        dialect_for(database).insert_events(
            cursor,
            table=models.Event._meta.db_table,
            rows=[_event_row(database, event) for event in outcomes],
        )
    return won, written + outcomes


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


# The database refused the rows themselves (bad data, a constraint): writing
# them again will not help. Anything else (a lock or statement timeout, a
# deadlock, a lost connection) is transient: the caller keeps the batch and
# tries again later.
CONTENT_ERRORS = (DataError, IntegrityError)


def record_batch(
    database: str,
    worker_id: str,
    completions: Sequence[Completion],
    notes: Sequence[Note] = (),
) -> tuple[list[Completion], list[events.TaskEvent]]:
    """Write finished attempts and notes with their events, in one transaction.

    Returns the completions that were written (those whose guarded update
    won, possibly replaced by a stand-in failure, see below) and the events
    written, to publish once committed. Transient database errors propagate
    (the caller keeps the batch and retries). If the database refuses the
    batch for its content, each note and completion is written alone: a
    refused note is dropped (logged), and a completion that is still refused
    is recorded as failed with the database's error, so no task stays
    ``running``.
    """
    if not completions and not notes:
        return [], []
    try:
        won, written = _write(database, worker_id, completions, notes)
        kept = [c for c in completions if c.task.id in won]
    except CONTENT_ERRORS:
        kept, written = [], []
        for note in notes:
            try:
                written += _write(database, worker_id, [], [note])[1]
            except CONTENT_ERRORS as exc:
                logger.warning(
                    "dropped a %s event of task %s the database refused: %s",
                    note.kind,
                    note.task.id,
                    exc,
                    extra={"action": "event_dropped", "task_id": str(note.task.id)},
                )
        for completion in completions:
            try:
                single_won, single_events = _write(database, worker_id, [completion])
            except CONTENT_ERRORS as exc:
                completion = _unstorable(completion, exc)
                single_won, single_events = _write(database, worker_id, [completion])
            if completion.task.id in single_won:
                kept.append(completion)
            written += single_events
    _log_outcomes(worker_id, completions, {c.task.id for c in kept}, notes)
    return kept, written


def _log_outcomes(
    worker_id: str,
    completions: Sequence[Completion],
    won: set[uuid.UUID],
    notes: Sequence[Note] = (),
) -> None:
    """Log one line per recorded attempt at INFO, progress reports at DEBUG.

    One level check per batch; the lines render only if a handler formats
    them (see ``logs.AttemptLine``), so quiet workers pay almost nothing.
    """
    if not logger.isEnabledFor(logging.INFO):
        return
    if logger.isEnabledFor(logging.DEBUG):
        for note in notes:
            if note.kind == EventKind.PROGRESS:
                logger.debug(
                    "%s",
                    logs.ProgressLine(note),
                    extra={
                        "action": "task_progress",
                        "task_id": str(note.task.id),
                        "task_name": note.task.task_path,
                        "worker_id": worker_id,
                        "progress": note.data["progress"],
                    },
                )
    for completion in completions:
        task = completion.task
        if task.id in won:
            # makeRecord + handle: logger.info() without its caller lookup,
            # the costliest step of a line that no one may print.
            logger.handle(
                logger.makeRecord(
                    logger.name,
                    logging.INFO,
                    __file__,
                    0,
                    "%s",
                    (logs.AttemptLine(completion),),
                    None,
                    extra=logs.attempt_extra(worker_id, completion),
                )
            )
        else:
            logger.debug(
                "lost the race to record %s: it was recovered by another worker",
                logs.task_label(task.task_path, task.id),
                extra={
                    "action": "transition_lost",
                    "task_id": str(task.id),
                    "task_name": task.task_path,
                },
            )


def extend_leases(database: str, worker_id: str, until: datetime) -> int:
    """Renew the lease of every task ``worker_id`` holds; return how many.

    Never shortens a lease a task extended itself (``context.extend_lease``).
    """
    return (
        models.Task.objects.using(database)
        .filter(status=Status.RUNNING, worker_id=worker_id)
        .update(lease_expires_at=Greatest(F("lease_expires_at"), Value(until)))
    )


def extend_lease(database: str, worker_id: str, task_id: uuid.UUID, until: datetime) -> bool:
    """Make one task's lease last at least until ``until``; False if no longer held."""
    return bool(
        models.Task.objects.using(database)
        .filter(pk=task_id, status=Status.RUNNING, worker_id=worker_id)
        .update(lease_expires_at=Greatest(F("lease_expires_at"), Value(until)))
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


_ABRUPT_ERRORS: dict[AttemptOutcome, type[BaseException]] = {
    AttemptOutcome.LOST: WorkerLost,
    AttemptOutcome.INTERRUPTED: WorkerInterrupted,
    AttemptOutcome.TIMED_OUT: HardTimeLimitExceeded,
}


def end_attempt_abruptly(
    database: str,
    task: models.Task,
    *,
    outcome: AttemptOutcome,
    now: datetime,
    message: str | None = None,
    expired_before: datetime | None = None,
) -> bool:
    """Record that ``task``'s running attempt ended without a result.

    ``LOST`` (the worker stopped heartbeating) and ``TIMED_OUT`` (the hard
    limit passed and the task would not stop) count against
    ``max_attempts`` and wait for the retry policy's delay; ``INTERRUPTED``
    (a forced shutdown) always hands the task back at once. Returns False
    when someone else changed the task first: the guard is the status, the
    worker and the attempt number read in ``task``, and with
    ``expired_before`` also a lease that has not been renewed since.
    """
    interrupted = outcome == AttemptOutcome.INTERRUPTED
    final = not interrupted and task.attempts >= task.max_attempts
    run_after = task.run_after
    if not final and not interrupted:
        run_after = now + timedelta(seconds=delay_after(task.retry_policy, task.attempts))
    error = _ABRUPT_ERRORS[outcome](message) if message else _ABRUPT_ERRORS[outcome]()
    with transaction.atomic(using=database):
        guard = models.Task.objects.using(database).filter(
            pk=task.pk,
            status=Status.RUNNING,
            worker_id=task.worker_id,
            attempts=task.attempts,
        )
        if expired_before is not None:
            guard = guard.filter(lease_expires_at__lt=expired_before)
        won = guard.update(
            status=Status.FAILED if final else Status.QUEUED,
            worker_id=None,
            lease_expires_at=None,
            run_after=max(run_after, task.run_after),
            finished_at=now if final else None,
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
        events.record_event(
            task,
            EventKind.FAILED if final else EventKind.RETRYING,
            attempt=task.attempts,
            data={
                "error_class": class_path(error),
                "error_message": str(error),
                "outcome": outcome.value,
                **({} if final else {"retry_at": max(run_after, task.run_after).isoformat()}),
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
    """Requeue (or fail) tasks whose lease expired; each becomes a lost attempt."""
    expired = list(
        models.Task.objects.using(database).lease_expired(now).order_by("lease_expires_at")[:limit]
    )
    return sum(
        end_attempt_abruptly(
            database, task, outcome=AttemptOutcome.LOST, now=now, expired_before=now
        )
        for task in expired
    )


def release_worker(database: str, worker_id: str, *, outcome: AttemptOutcome, now: datetime) -> int:
    """End every attempt ``worker_id`` still holds (it died or was stopped)."""
    held = list(models.Task.objects.using(database).running().filter(worker_id=worker_id))
    return sum(end_attempt_abruptly(database, task, outcome=outcome, now=now) for task in held)
