"""Cancelling tasks: the guarded writes behind ``operations.cancel``.

A queued task is cancelled at once: one ``UPDATE`` guarded by
``status = 'queued'``, so a claim running at the same moment either took
the row first (then it is running, and asked to stop) or finds it
cancelled. A running task is only *asked* to stop: the request (when, by
whom, why) is stored on its row and its worker is told (``NOTIFY`` on
PostgreSQL; elsewhere each slot polls, see ``worker/lease_keeper.py``).
The worker then records the attempt, and the task, as ``cancelled``. A
task whose row carries a request is never queued again: not by a retry
(the completion statement refuses it), a hand-back or a recovery.

Like ``transitions.py`` and ``recovery.py``, this module writes a task's
status; ``operations.py`` is the public API above it.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import connections, transaction
from django.db.models import F
from django.db.models.functions import Now
from django.utils import timezone

from django_taskflow import counters, db, events, models, results, signals
from django_taskflow.cancel_requests import describe
from django_taskflow.db import dialect_for
from django_taskflow.exceptions import TaskCancelled, UnknownTask
from django_taskflow.execution.outcome import class_path
from django_taskflow.models import EventKind
from django_taskflow.states import AttemptOutcome, Status

logger = logging.getLogger(__name__)

# Rows written per statement, so that one cancel_all() of a huge backlog
# neither binds too many parameters nor holds a huge statement.
CHUNK = 500


def cancel(
    database: str,
    task_ids: Iterable[uuid.UUID],
    *,
    by: str = "",
    reason: str = "",
    running: bool = True,
    now: datetime | None = None,
) -> int:
    """Cancel the queued tasks among ``task_ids`` and ask the running ones to stop.

    Finished tasks, and running ones already asked, are left alone; with
    ``running=False`` every running task is (one claimed since the caller
    listed it queued, say). Returns how many tasks were cancelled or asked
    to stop.
    """
    ids = list(task_ids)
    total = 0
    for start in range(0, len(ids), CHUNK):
        total += _cancel_chunk(database, ids[start : start + CHUNK], by, reason, running, now)
    return total


def _cancel_chunk(
    database: str,
    ids: list[uuid.UUID],
    by: str,
    reason: str,
    running: bool,
    now: datetime | None,
) -> int:
    connection = connections[database]
    table = models.Task._meta.db_table
    pk = models.Task._meta.pk
    db_ids = [pk.get_db_prep_value(task_id, connection) for task_id in ids]
    now = now or timezone.now()
    finished = connection.ops.adapt_datetimefield_value(now)
    clock_sql, clock_param = db.now_sql(connection.vendor)
    dialect = dialect_for(database)
    cancel_queued = (
        f"status = 'cancelled', finished_at = %s, cancel_requested_at = {clock_sql}, "
        "cancelled_by = %s, cancel_reason = %s"
    )
    with transaction.atomic(using=database), connection.cursor() as cursor:
        # Queued first; then running (a claim may have taken some meanwhile);
        # then queued again, for a running task a retry queued in between.
        cancelled = db.update_returning(
            cursor,
            table=table,
            assignments=cancel_queued,
            params=[finished, clock_param, by, reason],
            ids=db_ids,
            status=Status.QUEUED,
        )
        if not running:
            ids_left: list[Any] = []
        else:
            done = {row[0] for row in cancelled}
            ids_left = [db_id for db_id in db_ids if db_id not in done]
        asked = db.update_returning(
            cursor,
            table=table,
            assignments=f"cancel_requested_at = {clock_sql}, cancelled_by = %s, cancel_reason = %s",
            params=[clock_param, by, reason],
            ids=ids_left,
            status=Status.RUNNING,
            extra_guard="AND cancel_requested_at IS NULL",
        )
        done = {row[0] for row in asked}
        cancelled += db.update_returning(
            cursor,
            table=table,
            assignments=cancel_queued,
            params=[finished, clock_param, by, reason],
            ids=[db_id for db_id in ids_left if db_id not in done],
            status=Status.QUEUED,
        )
        if asked:
            dialect.notify_cancel(cursor, [(row[5], str(_uuid(row[0]))) for row in asked if row[5]])
        written = _record_events(
            database,
            [_row(row) for row in cancelled],
            data={"by": by, "reason": reason},
            now=now,
        )
    if cancelled:
        ids_cancelled = [event.task_id for event in written]
        transaction.on_commit(lambda: _announce_finished(database, ids_cancelled), using=database)
    for row in cancelled:
        logger.info(
            "task %s cancelled before it started (%s)",
            _uuid(row[0]),
            describe(by, reason),
            extra={"action": "task_cancelled", "task_id": str(_uuid(row[0]))},
        )
    for row in asked:
        logger.info(
            "asked worker %s to stop task %s (%s)",
            row[5],
            _uuid(row[0]),
            describe(by, reason),
            extra={"action": "cancel_requested", "task_id": str(_uuid(row[0]))},
        )
    return len(cancelled) + len(asked)


@dataclass(frozen=True, slots=True)
class _Row:
    id: uuid.UUID
    task_path: str
    key: str | None
    tags: list[str]
    attempts: int


def _uuid(value: Any) -> uuid.UUID:
    return value if isinstance(value, uuid.UUID) else uuid.UUID(value)


def _row(row: Sequence[Any]) -> _Row:
    tags = row[3]
    if isinstance(tags, str | bytes):
        tags = json.loads(tags)
    return _Row(_uuid(row[0]), row[1], row[2], list(tags or []), int(row[4]))


def _record_events(
    database: str, rows: Sequence[_Row], *, data: dict[str, Any], now: datetime
) -> list[events.TaskEvent]:
    """Write a ``cancelled`` event per row (in the caller's transaction); publish on commit."""
    if not rows:
        return []
    with connections[database].cursor() as cursor:
        dialect_for(database).assign_transaction_id(cursor)
    created = models.Event.objects.using(database).bulk_create(
        [
            models.Event(
                task_id=row.id,
                kind=EventKind.CANCELLED,
                attempt=row.attempts,
                created_at=now,
                data=data,
            )
            for row in rows
        ]
    )
    written = [
        events.TaskEvent(
            id=event.pk,
            task_id=str(row.id),
            task_name=row.task_path,
            key=row.key,
            tags=row.tags,
            kind=EventKind.CANCELLED,
            attempt=row.attempts,
            created_at=now,
            data=data,
            database=database,
        )
        for row, event in zip(rows, created, strict=True)
    ]
    transaction.on_commit(lambda: events.publish(written), using=database)
    return written


def _announce_finished(database: str, task_ids: Sequence[str]) -> None:
    """Send Django's ``task_finished`` for tasks cancelled outside a worker."""
    if not signals.is_heard(signals.task_finished, failed=True):
        return
    for task_id in task_ids:
        try:
            snapshot = results.load(database, task_id)
        except UnknownTask:
            continue  # no definition to describe it with
        signals.send_from_worker(
            signals.task_finished, type(snapshot.task.get_backend()), task_result=snapshot
        )


# -- the worker's side ---------------------------------------------------------


def end_refused_retries(
    database: str, worker_id: str, refused: Sequence[tuple[uuid.UUID, int, str, str, str]]
) -> int:
    """Cancel running tasks whose retry the completion statement refused.

    A retry is refused when the task was asked to stop after its worker last
    looked (``record``'s guard): the attempt is recorded ``cancelled``, with
    its own error, instead of queueing the task again. ``refused`` holds
    (task id, attempt number, error class, error message, traceback).
    Returns how many were cancelled; their events are published on commit.
    """
    ended = 0
    now = timezone.now()
    for task_id, attempt, error_class, error_message, traceback in refused:
        with transaction.atomic(using=database):
            task = (
                models.Task.objects.using(database)
                .filter(
                    pk=task_id,
                    status=Status.RUNNING,
                    worker_id=worker_id,
                    attempts=attempt,
                    cancel_requested_at__isnull=False,
                )
                .first()
            )
            if task is None:
                continue
            won = (
                models.Task.objects.using(database)
                .filter(pk=task_id, status=Status.RUNNING, worker_id=worker_id, attempts=attempt)
                .update(
                    status=Status.CANCELLED,
                    worker_id=None,
                    lease_expires_at=None,
                    finished_at=now,
                )
            )
            if not won:
                continue
            message = describe(task.cancelled_by, task.cancel_reason)
            models.Attempt.objects.using(database).create(
                task_id=task_id,
                number=attempt,
                worker_id=worker_id,
                finished_at=now,
                outcome=AttemptOutcome.CANCELLED,
                error_class=error_class or class_path(TaskCancelled()),
                error_message=f"{message}; the attempt ended with: {error_message}",
                traceback=traceback,
            )
            counters.count_abrupt_end(
                database, task, outcome=AttemptOutcome.CANCELLED, status=Status.CANCELLED
            )
            ended += 1
            _record_events(
                database,
                [_Row(task.pk, task.task_path, task.key, list(task.tags), attempt)],
                data={"by": task.cancelled_by, "reason": task.cancel_reason},
                now=now,
            )
        logger.info(
            "task %s cancelled: its retry was refused",
            task_id,
            extra={"action": "task_cancelled", "task_id": str(task_id)},
        )
    return ended


# -- attempts that end without an outcome of their own (called by recovery) -------


def attempt_row(
    database: str, task: models.Task, expired_before: datetime | Now | None
) -> models.TaskQuerySet:
    """The row of ``task``'s attempt, if nobody changed it since it was read."""
    guard = models.Task.objects.using(database).filter(
        pk=task.pk, status=Status.RUNNING, worker_id=task.worker_id, attempts=task.attempts
    )
    if expired_before is not None:
        guard = guard.filter(lease_expires_at__lt=expired_before)
    return guard


def end_attempt(
    database: str,
    task: models.Task,
    *,
    outcome: AttemptOutcome,
    now: datetime,
    expired_before: datetime | Now | None,
) -> bool:
    """End the attempt of a task someone cancelled: ``cancelled``, whatever stopped it."""
    how = {
        AttemptOutcome.LOST: "its worker was lost",
        AttemptOutcome.INTERRUPTED: "its worker was forced to stop",
        AttemptOutcome.TIMED_OUT: "it was stopped for real",
    }.get(outcome, outcome.value)
    error = TaskCancelled(f"{describe(task.cancelled_by, task.cancel_reason)}; {how}")
    with transaction.atomic(using=database):
        won = attempt_row(database, task, expired_before).update(
            status=Status.CANCELLED,
            worker_id=None,
            lease_expires_at=None,
            finished_at=now,
            lost_attempts=F("lost_attempts") + (0 if outcome == AttemptOutcome.TIMED_OUT else 1),
        )
        if not won:
            logger.debug("task %s changed before it could be recovered", task.pk)
            return False
        models.Attempt.objects.using(database).create(
            task_id=task.pk,
            number=task.attempts,
            worker_id=task.worker_id or "",
            finished_at=now,
            outcome=AttemptOutcome.CANCELLED,
            error_class=class_path(error),
            error_message=str(error),
        )
        counters.count_abrupt_end(
            database, task, outcome=AttemptOutcome.CANCELLED, status=Status.CANCELLED
        )
        _record_events(
            database,
            [_Row(task.pk, task.task_path, task.key, list(task.tags), task.attempts)],
            data={"by": task.cancelled_by, "reason": task.cancel_reason, "outcome": outcome.value},
            now=now,
        )
        transaction.on_commit(lambda: _announce_finished(database, [str(task.pk)]), using=database)
    logger.info(
        "task %s attempt %d cancelled (%s) on worker %s",
        task.pk,
        task.attempts,
        how,
        task.worker_id,
        extra={"action": "task_cancelled", "task_id": str(task.pk), "worker_id": task.worker_id},
    )
    return True


def end_unstarted(database: str, task: models.Task, worker_id: str) -> None:
    """A claimed task that never started was cancelled: uncharged, no attempt row."""
    now = timezone.now()
    won = (
        models.Task.objects.using(database)
        .filter(pk=task.pk, status=Status.RUNNING, worker_id=worker_id, attempts=task.attempts)
        .update(
            status=Status.CANCELLED,
            worker_id=None,
            lease_expires_at=None,
            attempts=F("attempts") - 1,
            finished_at=now,
        )
    )
    if won:
        _record_events(
            database,
            [_Row(task.pk, task.task_path, task.key, list(task.tags), task.attempts - 1)],
            data={"by": task.cancelled_by, "reason": task.cancel_reason},
            now=now,
        )
        transaction.on_commit(lambda: _announce_finished(database, [str(task.pk)]), using=database)
