"""Every status change after claim: one guarded write, with its Attempt row.

Each write is filtered on the state the caller expects (status, worker,
attempt number); the returned count or id set says who won. Losing is
normal (another worker recovered the task) and is logged at DEBUG.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import DataError, IntegrityError, connections, transaction

from django_taskflow import attempt_log, batch_events, counters, events, models
from django_taskflow.claim import ClaimedTask
from django_taskflow.db import dialect_for
from django_taskflow.execution.outcome import (
    Outcome,
    class_path,
)
from django_taskflow.flows import children
from django_taskflow.models import EventKind
from django_taskflow.states import AttemptOutcome, Status

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
    """Write ``completions`` and ``notes`` with their events and counts, atomically.

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
    outcome_data = [batch_events.outcome_data(completion.outcome) for completion in completions]
    # Every outcome's event is sent; the database keeps those whose task it wrote.
    event_rows = [
        *(
            batch_events.event_row(
                connection,
                _db_id(connection, note.task.id),
                note.kind.value,
                note.task.attempt,
                note.at,
                note.data,
                outcome=False,
            )
            for note in notes
        ),
        *(
            batch_events.event_row(
                connection,
                row[0],
                completion.outcome.event_kind,
                completion.task.attempt,
                completion.finished_at,
                data,
                outcome=True,
            )
            for row, completion, data in zip(rows, completions, outcome_data, strict=True)
        ),
    ]
    has_progress = any(note.kind == EventKind.PROGRESS for note in notes)
    spawning = [completion for completion in completions if completion.outcome.children]
    atomic = (
        transaction.atomic(using=database)
        if has_progress or spawning or not dialect.RECORD_IS_ONE_STATEMENT
        else contextlib.nullcontext()
    )
    with atomic, dialect.bound_cursor(connection) as cursor:
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
                counter_table=models.TaskCounter._meta.db_table,
                timings=[counters.timing(c.started_at, c.finished_at) for c in completions],
                shard=counters.shard_for(worker_id),
            )
        }
        if spawning:
            # In the outcome's transaction: children of an attempt not won,
            # or not succeeded, never exist.
            children.insert([c for c in spawning if c.task.id in won])
    if not batch_events.are_announced():
        return won, []
    return won, [batch_events.note_event(note, database) for note in notes] + [
        batch_events.outcome_event(completion, database, data)
        for completion, data in zip(completions, outcome_data, strict=True)
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
    them (see ``attempt_log.AttemptLine``), so quiet workers pay almost nothing.
    """
    if not logger.isEnabledFor(logging.INFO):
        return
    if logger.isEnabledFor(logging.DEBUG):
        for note in notes:
            if note.kind == EventKind.PROGRESS:
                logger.debug(
                    "%s",
                    attempt_log.ProgressLine(note),
                    extra={
                        "action": "task_progress",
                        "task_id": str(note.task.id),
                        "task_name": note.task.task_path,
                        "worker_id": worker_id,
                        "progress": note.data["progress"],
                    },
                )
    attempt_log.log_attempts(
        logger,
        worker_id,
        [completion for completion in completions if completion.task.id in won],
        pathname=__file__,
    )
    for completion in completions:
        task = completion.task
        if task.id not in won:
            logger.debug(
                "lost the race to record %s: it was recovered by another worker",
                attempt_log.task_label(task.task_path, task.id),
                extra={
                    "action": "transition_lost",
                    "task_id": str(task.id),
                    "task_name": task.task_path,
                },
            )
