"""Every status change after claim: one guarded write, with its Attempt row.

Each write is filtered on the state the caller expects (status, worker,
attempt number); the returned count or id set says who won. Losing is
normal (another worker recovered the task) and is logged at DEBUG.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import re
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import DataError, IntegrityError, connections, transaction
from django.db.models import F
from django.db.models.functions import Greatest, Now
from django.tasks import task_backends
from django.tasks.exceptions import InvalidTaskBackend

from django_taskflow import events, logs, models, results, signals
from django_taskflow.claim import ClaimedTask
from django_taskflow.conf import Options
from django_taskflow.db import LeaseUntil, dialect_for
from django_taskflow.exceptions import (
    HardTimeLimitExceeded,
    UnknownTask,
    WorkerInterrupted,
    WorkerLost,
)
from django_taskflow.execution.outcome import (
    Outcome,
    class_path,
    has_attempts_left,
    is_lost_for_good,
)
from django_taskflow.models import EventKind
from django_taskflow.policies import delay_after
from django_taskflow.states import AttemptOutcome, OnLost, Status

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


def _row(connection: Any, completion: Completion) -> tuple[object, ...]:
    ops = connection.ops
    outcome = completion.outcome
    finished = ops.adapt_datetimefield_value(completion.finished_at)
    return (
        _db_id(connection, completion.task.id),
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


def _db_id(connection: Any, task_id: uuid.UUID) -> Any:
    return models.Task._meta.pk.get_db_prep_value(task_id, connection)


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


def _event_row(
    connection: Any, db_id: Any, event: events.TaskEvent, *, outcome: bool
) -> tuple[Any, ...]:
    """An event as ``record`` takes it; ``outcome``: written only if its task's outcome is."""
    return (
        db_id,
        event.kind.value,
        event.attempt,
        connection.ops.adapt_datetimefield_value(event.created_at),
        json.dumps(event.data) if event.data else "{}",
        outcome,
    )


def _update_progress(database: str, worker_id: str, notes: Sequence[Note]) -> None:
    latest_progress = {note.task.id: note for note in notes if note.kind == EventKind.PROGRESS}
    for note in latest_progress.values():
        models.Task.objects.using(database).filter(
            pk=note.task.id, status=Status.RUNNING, worker_id=worker_id
        ).update(progress=note.data["progress"], progress_detail=note.data.get("detail", {}))


def _write(
    database: str,
    worker_id: str,
    completions: Sequence[Completion],
    notes: Sequence[Note] = (),
) -> tuple[set[uuid.UUID], list[events.TaskEvent]]:
    """Write ``completions`` and ``notes`` with their events, atomically.

    One ``record`` call writes them all; a transaction is opened only if
    the dialect needs one for it, or progress notes add updates of their own.
    """
    dialect = dialect_for(database)
    # Looked up once: connections[...] goes through a thread-local each time.
    connection = connections[database]
    rows = [_row(connection, completion) for completion in completions]
    by_db_id = {
        row[0]: completion.task.id for row, completion in zip(rows, completions, strict=True)
    }
    noted = [note_event(note, database) for note in notes]
    # Every outcome's event is sent; the database keeps those whose task it wrote.
    outcomes = [outcome_event(completion, database) for completion in completions]
    event_rows = [
        *(
            _event_row(connection, _db_id(connection, note.task.id), event, outcome=False)
            for note, event in zip(notes, noted, strict=True)
        ),
        *(
            _event_row(connection, row[0], event, outcome=True)
            for row, event in zip(rows, outcomes, strict=True)
        ),
    ]
    has_progress = any(note.kind == EventKind.PROGRESS for note in notes)
    atomic = (
        transaction.atomic(using=database)
        if has_progress or not dialect.RECORD_IS_ONE_STATEMENT
        else contextlib.nullcontext()
    )
    with atomic, connection.cursor() as cursor:
        if has_progress:
            _update_progress(database, worker_id, notes)
        won = {
            by_db_id.get(db_id, db_id)
            for db_id in dialect.record(
                cursor,
                task_table=models.Task._meta.db_table,
                attempt_table=models.Attempt._meta.db_table,
                event_table=models.Event._meta.db_table,
                worker_id=worker_id,
                completions=rows,
                events=event_rows,
            )
        }
    return won, noted + [
        event
        for completion, event in zip(completions, outcomes, strict=True)
        if completion.task.id in won
    ]


# JSON escapes a database may refuse in a jsonb value: NUL, and surrogates.
_UNSTORABLE_JSON = re.compile(r"\\u(0000|d[89a-f][0-9a-f]{2})", re.IGNORECASE)


def _storable(text: str) -> str:
    """``text`` with what a database refuses written out: lone surrogates, NUL."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8").replace("\x00", "\\x00")


def _stand_ins(completion: Completion, exc: Exception) -> list[Completion]:
    """What to write instead of an outcome the database refused, best first.

    First the same outcome (the same retry or failure) with its texts made
    storable; then a failure that keeps the attempt's real error class, for
    an outcome refused for its result or still refused.
    """
    outcome = completion.outcome
    value = outcome.error_value_json
    storable = dataclasses.replace(
        outcome,
        error_class=_storable(outcome.error_class),
        error_message=_storable(outcome.error_message),
        traceback=_storable(outcome.traceback),
        error_value_json=None if value is None or _UNSTORABLE_JSON.search(value) else value,
    )
    refused = Outcome(
        status=Status.FAILED,
        attempt_outcome=outcome.attempt_outcome if outcome.error_class else AttemptOutcome.FAILED,
        error_class=storable.error_class or class_path(exc),
        error_message=(
            f"The database refused to store this attempt's outcome: {_storable(str(exc))}"
        ),
    )
    return [
        dataclasses.replace(completion, outcome=storable),
        dataclasses.replace(completion, outcome=refused),
    ]


def _write_refused(
    database: str, worker_id: str, completion: Completion, exc: Exception
) -> tuple[Completion, set[uuid.UUID], list[events.TaskEvent]]:
    """Write a stand-in for ``completion``, refused alone with ``exc``."""
    first, last = _stand_ins(completion, exc)
    logger.warning(
        "the database refused the outcome of task %s (%s); storing a stand-in",
        completion.task.id,
        _storable(str(exc)),
        extra={"action": "outcome_refused", "task_id": str(completion.task.id)},
    )
    try:
        return first, *_write(database, worker_id, [first])
    except CONTENT_ERRORS:
        return last, *_write(database, worker_id, [last])


# The database refused the rows themselves (bad data, a constraint, text it
# cannot encode, a UnicodeEncodeError being a ValueError): writing them again
# will not help. Anything else (a lock or statement timeout, a deadlock, a
# lost connection) is transient: the caller keeps the batch and tries again.
CONTENT_ERRORS = (DataError, IntegrityError, ValueError)


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
    is written again with storable texts (the same retry or failure), else
    as failed with its own error class and the database's error, so no
    task stays ``running`` and no other task's outcome is affected.
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
                completion, single_won, single_events = _write_refused(
                    database, worker_id, completion, exc
                )
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
    end = _decide_abrupt_end(task, outcome, now, message)
    final, error = end.final, end.error
    with transaction.atomic(using=database):
        guard = models.Task.objects.using(database).filter(
            pk=task.pk,
            status=Status.RUNNING,
            worker_id=task.worker_id,
            attempts=task.attempts,
        )
        if expired_before is not None:
            guard = guard.filter(lease_expires_at__lt=expired_before)
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
