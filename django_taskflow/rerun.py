"""Running tasks again at an operator's word: the writes behind ``operations.requeue`` and ``retry_now``.

``retry_now`` moves an existing row back to ``queued``: one UPDATE per
chunk, guarded in SQL by the states it may leave (``failed``, or
``queued`` with ``run_after`` still ahead), so a claim or a completion
running at the same moment either came first (the row no longer matches)
or finds it queued. It is the one way out of ``failed``. ``requeue``
leaves the finished original as it is and inserts a new task with the
same inputs, whose ``original`` names it.

A ``unique=True`` task may have at most one queued or running copy (a
partial unique index). Both writes refuse a row whose key is taken,
checked in the same statement (``retry_now``) or transaction
(``requeue``); a copy enqueued in between still raises ``IntegrityError``,
caught here and turned into the same refusal, row by row.

Like ``transitions.py``, ``recovery.py`` and ``cancellation.py``, this
module writes a task's status; ``operations.py`` is the public API above
it. Callers hand over ids in chunks (``CHUNK``); nothing here loads more.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db import IntegrityError, connections, transaction
from django.db.models import Exists, OuterRef, Q
from django.tasks import task_backends
from django.utils import timezone

from django_taskflow import events, models
from django_taskflow.db import dialect_for
from django_taskflow.encoding import copies as copies_module
from django_taskflow.encoding.keys import EncryptionKey
from django_taskflow.models import EventKind
from django_taskflow.states import FINISHED, Status

logger = logging.getLogger(__name__)

# Ids per statement: small enough to bind as parameters on every backend
# and to keep each transaction short, large enough to be few round trips.
CHUNK = 1000

# Why a row was left as it was; the admin and the command show these.
NOT_FOUND = "no such task"
TAKEN = "a copy of this unique task is already queued or running"
CANCEL_REQUESTED = "it is being cancelled"


@dataclass(slots=True)
class Report:
    """What an operation did: how many tasks it changed, and why it left the others."""

    changed: int = 0
    refused: Counter[str] = field(default_factory=Counter)
    new_ids: list[uuid.UUID] = field(default_factory=list)  # requeue: the tasks made

    def add(self, other: Report) -> None:
        self.changed += other.changed
        self.refused.update(other.refused)
        self.new_ids.extend(other.new_ids)


def _sql_ids(database: str, ids: Sequence[uuid.UUID]) -> list[Any]:
    connection = connections[database]
    pk = models.Task._meta.pk
    return [pk.get_db_prep_value(task_id, connection) for task_id in ids]


def _uuid(value: Any) -> uuid.UUID:
    return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))


# -- retry now ---------------------------------------------------------------


def retry_now(
    database: str,
    ids: Sequence[uuid.UUID],
    *,
    by: str,
    now: datetime | None = None,
    dry_run: bool = False,
) -> Report:
    """Queue the failed or waiting tasks among ``ids`` to run at once; report the rest.

    A failed task gets one more allowed attempt (``max_attempts`` becomes
    the attempts it used plus one); its attempts stay. A queued task whose
    ``run_after`` is ahead (a retry's back-off, a countdown) runs now, its
    limit unchanged. Each changed task gets a ``retried`` event with ``by``.
    With ``dry_run``, the report says what would change, and nothing does.
    """
    now = now or timezone.now()
    if dry_run:
        would = set(
            models.Task.objects.using(database)
            .filter(_retryable(now), pk__in=ids)
            .values_list("pk", flat=True)
        )
        left = [task_id for task_id in ids if task_id not in would]
        return Report(changed=len(would), refused=_why_not_retried(database, left, now))
    connection = connections[database]
    table = connection.ops.quote_name(models.Task._meta.db_table)
    when = connection.ops.adapt_datetimefield_value(now)
    db_ids = _sql_ids(database, ids)
    if not db_ids:
        return Report()
    sql = f"""
        UPDATE {table} SET
            max_attempts = CASE WHEN status = 'failed'
                THEN attempts - lost_attempts + 1 ELSE max_attempts END,
            status = 'queued', run_after = %s, finished_at = NULL,
            worker_id = NULL, lease_expires_at = NULL
        WHERE id IN ({", ".join(["%s"] * len(db_ids))})
          AND (status = 'failed' OR (status = 'queued' AND run_after > %s))
          AND cancel_requested_at IS NULL
          AND (unique_key IS NULL OR status = 'queued' OR NOT EXISTS (
              SELECT 1 FROM {table} other
              WHERE other.unique_key = {table}.unique_key
                AND other.status IN ('queued', 'running')))
        RETURNING id, attempts
    """
    try:
        with transaction.atomic(using=database), connection.cursor() as cursor:
            cursor.execute(sql, [when, *db_ids, when])
            rows = cursor.fetchall()
            changed = [_uuid(row[0]) for row in rows]
            record(database, changed, EventKind.RETRIED, {"by": by}, now)
            dialect_for(database).notify(cursor)
    except IntegrityError:
        if len(ids) == 1:  # a unique copy was enqueued since the check
            return Report(refused=Counter({TAKEN: 1}))
        report = Report()
        for task_id in ids:
            report.add(retry_now(database, [task_id], by=by, now=now))
        return report
    for task_id in changed:
        logger.info(
            "task %s queued to run now by %s",
            task_id,
            by or "an operator",
            extra={"action": "task_retried", "task_id": str(task_id)},
        )
    done = set(changed)
    left = [task_id for task_id in ids if task_id not in done]
    return Report(changed=len(changed), refused=_why_not_retried(database, left, now))


def _retryable(now: datetime) -> Q:
    """The rows ``retry_now`` changes: the WHERE clause of its UPDATE, for dry runs."""
    unique_copy_active = models.Task.objects.filter(
        unique_key=OuterRef("unique_key"), status__in=[Status.QUEUED, Status.RUNNING]
    )
    return (
        (Q(status=Status.FAILED) | Q(status=Status.QUEUED, run_after__gt=now))
        & Q(cancel_requested_at__isnull=True)
        & (Q(unique_key__isnull=True) | Q(status=Status.QUEUED) | ~Q(Exists(unique_copy_active)))
    )


def _why_not_retried(database: str, ids: Sequence[uuid.UUID], now: datetime) -> Counter[str]:
    reasons: Counter[str] = Counter()
    rows = (
        models.Task.objects.using(database)
        .filter(pk__in=ids)
        .values_list("status", "run_after", "cancel_requested_at")
    )
    found = 0
    for status, run_after, cancel_requested_at in rows:
        found += 1
        if cancel_requested_at is not None:
            reasons[CANCEL_REQUESTED] += 1
        elif status == Status.QUEUED and run_after <= now:
            reasons["it is already queued to run now"] += 1
        elif status == Status.FAILED:
            reasons[TAKEN] += 1
        elif status == Status.RUNNING:
            reasons["it is running"] += 1
        else:
            reasons[f"it is {status}: requeue it to run it again"] += 1
    if len(ids) > found:
        reasons[NOT_FOUND] += len(ids) - found
    return reasons


# -- requeue -----------------------------------------------------------------

# What a new task copies from its original: its inputs and its options.
_COPIED = (
    "task_path",
    "backend",
    "queue_name",
    "priority",
    "args",
    "kwargs",
    "encoding",  # how args and kwargs are stored: their version and encoder
    "key",
    "tags",
    "unique_key",
    "requires",
    "max_attempts",
    "on_lost",
    "retry_policy",
    "timeout_soft",
    "timeout_hard",
    "enqueued_by_id",  # a copy stays its owner's task: the API shows it to them
)


def _keys(backend: str) -> tuple[EncryptionKey, ...]:
    config = getattr(task_backends[backend], "config", None)
    return () if config is None else tuple(config.encryption_keys)


def requeue(
    database: str,
    ids: Sequence[uuid.UUID],
    *,
    by: str,
    now: datetime | None = None,
    changes: dict[str, Any] | None = None,
    dry_run: bool = False,
) -> Report:
    """Make a new queued task for each finished task among ``ids``; report the rest.

    The new task has the original's inputs and options (``changes``, e.g.
    edited ``args``/``kwargs``, replaces some), no attempts, and
    ``original`` set to the original's id; the original is not touched. A
    ``requeued`` event on the new task records ``by``. With ``dry_run``,
    the report says what would change, and nothing does.
    """
    now = now or timezone.now()
    rows = list(
        models.Task.objects.using(database)
        .filter(pk__in=ids, status__in=FINISHED)
        .order_by()
        .values("pk", *_COPIED)
    )
    report = Report()
    found = set(models.Task.objects.using(database).filter(pk__in=ids).values_list("pk", flat=True))
    unfinished = len(found) - len(rows)
    if unfinished:
        report.refused["it is still queued or running: nothing to requeue"] += unfinished
    if len(set(ids) - found):
        report.refused[NOT_FOUND] += len(set(ids) - found)
    if dry_run:
        report.changed = len(_free_of_active_copies(database, rows, report))
        return report
    try:
        with transaction.atomic(using=database):
            copies = [
                models.Task(
                    **({name: row[name] for name in _COPIED} | (changes or {})),
                    original=row["pk"],
                    status=Status.QUEUED,
                    run_after=now,
                    enqueued_at=now,
                )
                for row in _free_of_active_copies(database, rows, report)
            ]
            for copy in copies:
                if copy.encoding is not None and copy.original is not None:
                    # Bound to the original's id: sealed anew for the copy's.
                    copies_module.seal_copy(
                        copy,
                        copy.original,
                        edited=bool(changes and "args" in changes),
                        keys=_keys(copy.backend),
                    )
            models.Task.objects.using(database).bulk_create(copies)
            record(database, [copy.pk for copy in copies], EventKind.REQUEUED, {"by": by}, now)
            with connections[database].cursor() as cursor:
                dialect_for(database).notify(cursor)
    except IntegrityError:
        if len(rows) <= 1:
            return Report(refused=report.refused + Counter({TAKEN: len(rows)}))
        report = Report()
        for task_id in ids:
            report.add(requeue(database, [task_id], by=by, now=now, changes=changes))
        return report
    for copy in copies:
        logger.info(
            "task %s requeued as %s by %s",
            copy.original,
            copy.pk,
            by or "an operator",
            extra={"action": "task_requeued", "task_id": str(copy.pk)},
        )
    report.changed = len(copies)
    report.new_ids = [copy.pk for copy in copies]
    return report


def _free_of_active_copies(
    database: str, rows: list[dict[str, Any]], report: Report
) -> list[dict[str, Any]]:
    """The rows that a copy may be made of; each unique one whose key is taken is refused."""
    keys = [row["unique_key"] for row in rows if row["unique_key"]]
    taken = set(
        models.Task.objects.using(database)
        .filter(unique_key__in=keys, status__in=[Status.QUEUED, Status.RUNNING])
        .values_list("unique_key", flat=True)
    )
    free = []
    for row in rows:
        if row["unique_key"] and row["unique_key"] in taken:
            report.refused[TAKEN] += 1
            continue
        if row["unique_key"]:
            taken.add(row["unique_key"])  # two finished copies of one call
        free.append(row)
    return free


# -- events ------------------------------------------------------------------


def record(
    database: str,
    task_ids: Sequence[uuid.UUID],
    kind: EventKind,
    data: dict[str, Any],
    now: datetime | None = None,
) -> None:
    """One event per task, in the caller's transaction; signals after commit."""
    if not task_ids:
        return
    now = now or timezone.now()
    with connections[database].cursor() as cursor:
        dialect_for(database).assign_transaction_id(cursor)
    tasks = (
        models.Task.objects.using(database)
        .filter(pk__in=task_ids)
        .values_list("pk", "task_path", "key", "tags", "attempts")
    )
    rows = [
        (_uuid(pk), path, key, json.loads(tags) if isinstance(tags, str) else tags, attempts)
        for pk, path, key, tags, attempts in tasks
    ]
    created = models.Event.objects.using(database).bulk_create(
        [
            models.Event(task_id=pk, kind=kind, attempt=attempts, created_at=now, data=data)
            for pk, _path, _key, _tags, attempts in rows
        ]
    )
    written = [
        events.TaskEvent(
            id=event.pk,
            task_id=str(pk),
            task_name=path,
            key=key,
            tags=list(tags or []),
            kind=kind,
            attempt=attempts,
            created_at=now,
            data=data,
            database=database,
        )
        for (pk, path, key, tags, attempts), event in zip(rows, created, strict=True)
    ]
    transaction.on_commit(lambda: events.publish(written), using=database)
