"""Enqueue of tasks with ``dedup`` or ``unique``: one task per key, by a constraint.

``enqueue.py`` builds and checks the rows as for any task, then hands them
here. Each distinct key of the call is enqueued in one transaction, in key
order (so two batches never wait for each other's keys in opposite
orders), and what decides between concurrent enqueues is always a
database constraint, never a read followed by a write:

- ``dedup`` (TTL): the primary key of ``DedupKey``. ``hold_dedup_key``
  inserts the key's row, or takes it over once expired, in one statement;
  whoever does not get it reads which task holds it. On PostgreSQL the row
  stays locked until commit, so the loser reads the winner's committed row.
- ``dedup`` with ``debounce``: the same row, held while its task waits.
  A later call merges into the task with a guarded UPDATE (still queued,
  never started); when that finds nothing, the task has started, and the
  call takes the key over for a new task.
- ``unique``: the partial unique index on ``Task.unique_key`` over queued
  and running rows. The INSERT does nothing on conflict; a finished task
  has left the index, so its key is free with no extra write.

Everything is inside ``transaction.atomic()``: a failure leaves no key
without its task, and no task without its key.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from django.db import connections, transaction
from django.tasks import Task

from django_taskflow import dedup as dedup_keys
from django_taskflow import models, results
from django_taskflow.db import INSERT_COLUMNS, dialect_for
from django_taskflow.exceptions import TaskflowError
from django_taskflow.states import Status

logger = logging.getLogger(__name__)

# Before any expiry: a debounced key is never taken over for being old,
# only when its task has started.
_NEVER = datetime(2000, 1, 1, tzinfo=UTC)
_RUN_AFTER = INSERT_COLUMNS.index("run_after")
_ACTIVE = (Status.QUEUED, Status.RUNNING)
# How often a unique enqueue tries again when the task that held the key
# finished between its INSERT and its read: twice in a row is already rare.
_UNIQUE_TRIES = 5

type Call = tuple[Sequence[Any], Mapping[str, Any]]
type Answer = tuple[results.TaskflowResult, bool]  # the result, and whether a row was inserted


def insert(
    definition: Task[Any, Any],
    database: str,
    calls: Sequence[Call],
    rows: Sequence[Sequence[Any]],
    snapshots: Sequence[results.TaskflowResult],
    now: datetime,
    *,
    columns: Sequence[str] = INSERT_COLUMNS,
) -> tuple[list[results.TaskflowResult], list[results.TaskflowResult]]:
    """Enqueue the calls' rows, one per distinct key; return every call's result and the new ones.

    Calls that share a key collapse: the first is enqueued (with debounce,
    the last, so its arguments win), and the others get its result marked
    ``deduplicated``.
    """
    dedup: dedup_keys.Dedup | None = getattr(definition, "dedup", None)
    keys = [_key_of(definition, dedup, args, kwargs) for args, kwargs in calls]
    keeps_last = dedup is not None and dedup.debounce is not None
    chosen: dict[str, int] = {}
    for index, key in enumerate(keys):
        if keeps_last or key not in chosen:
            chosen[key] = index
    answers: dict[str, Answer] = {}
    with transaction.atomic(using=database):
        for key in sorted(chosen):
            index = chosen[key]
            writer = _Writer(definition, database, key, rows[index], snapshots[index], now, columns)
            if dedup is None:
                answers[key] = writer.unique()
            elif dedup.debounce is None:
                answers[key] = writer.hold_for(dedup.ttl)
            else:
                answers[key] = writer.debounce(dedup.debounce, dedup.ttl)
    every = []
    for index, key in enumerate(keys):
        result, _ = answers[key]
        every.append(result if index == chosen[key] else results.as_duplicate(result))
    inserted = [result for result, is_new in answers.values() if is_new]
    return every, inserted


def _key_of(
    definition: Task[Any, Any],
    dedup: dedup_keys.Dedup | None,
    args: Sequence[Any],
    kwargs: Mapping[str, Any],
) -> str:
    if dedup is None:
        return dedup_keys.input_key(
            definition.module_path, definition.func, definition.takes_context, args, kwargs
        )
    return dedup_keys.dedup_key(
        dedup,
        definition.module_path,
        definition.func,
        definition.takes_context,
        args,
        kwargs,
        getattr(definition, "key", None),
    )


class _Writer:
    """The statements that enqueue one key's row, inside the caller's transaction."""

    def __init__(
        self,
        definition: Task[Any, Any],
        database: str,
        key: str,
        row: Sequence[Any],
        snapshot: results.TaskflowResult,
        now: datetime,
        columns: Sequence[str],
    ) -> None:
        self.definition = definition
        self.database = database
        self.connection = connections[database]
        self.dialect = dialect_for(database)
        self.key = key
        self.row = row
        self.snapshot = snapshot
        self.now = now
        self.columns = columns  # the row's: a limited task's carry its gate

    def _datetime(self, value: datetime) -> Any:
        return self.connection.ops.adapt_datetimefield_value(value)

    def _insert_task(self, row: Sequence[Any]) -> Answer:
        with self.connection.cursor() as cursor:
            self.dialect.insert_tasks(
                cursor, table=models.Task._meta.db_table, rows=[row], columns=self.columns
            )
        return self.snapshot, True

    def _hold(self, expires_at: datetime, take_over_before: datetime) -> bool:
        with self.connection.cursor() as cursor:
            return bool(
                self.dialect.hold_dedup_key(
                    cursor,
                    table=models.DedupKey._meta.db_table,
                    key=self.key,
                    task_id=self.row[0],
                    expires_at=self._datetime(expires_at),
                    take_over_before=self._datetime(take_over_before),
                )
            )

    def _holder(self) -> models.DedupKey:
        """The key's row, which this transaction has locked (or SQLite's one writer guards)."""
        return models.DedupKey.objects.using(self.database).get(pk=self.key)

    def _take_over(self, expires_at: datetime) -> None:
        models.DedupKey.objects.using(self.database).filter(pk=self.key).update(
            task_id=self.snapshot.id, expires_at=expires_at
        )

    def _existing(self, task_id: Any) -> models.Task | None:
        return models.Task.objects.using(self.database).filter(pk=task_id).first()

    def _duplicate_of(self, task: models.Task) -> Answer:
        logger.debug(
            "Enqueue of %s deduplicated to task %s",
            task.task_path,
            task.pk,
            extra={"action": "task_deduplicated", "task_id": str(task.pk)},
        )
        return results.from_row(task, self.definition, deduplicated=True), False

    def hold_for(self, ttl: float) -> Answer:
        """``dedup`` with a TTL: the key is held until it expires, whatever the outcome."""
        expires_at = self.now + timedelta(seconds=ttl)
        if self._hold(expires_at, take_over_before=self.now):
            return self._insert_task(self.row)
        existing = self._existing(self._holder().task_id)
        if existing is None:  # its task was deleted (pruned): the key is free
            self._take_over(expires_at)
            return self._insert_task(self.row)
        return self._duplicate_of(existing)

    def debounce(self, debounce: float, ttl: float) -> Answer:
        """Merge into the key's waiting task, or enqueue one that waits ``debounce``.

        The task runs ``debounce`` after the latest call, but no later than
        ``ttl`` after the call that created it (the key's ``expires_at``),
        so that a burst that never pauses still runs.
        """
        quiet_at = self.now + timedelta(seconds=debounce)
        row = list(self.row)
        if self.definition.run_after is None or self.definition.run_after < quiet_at:
            row[_RUN_AFTER] = self._datetime(quiet_at)
        latest = self.now + timedelta(seconds=ttl)
        if self._hold(latest, take_over_before=_NEVER):
            return self._insert_task(row)
        holder = self._holder()
        merged = (
            models.Task.objects.using(self.database)
            .filter(pk=holder.task_id, status=Status.QUEUED, attempts=0)
            .update(
                args=self.snapshot.args,
                kwargs=self.snapshot.kwargs,
                run_after=min(quiet_at, holder.expires_at),
            )
        )
        if merged:  # updated just now, in this transaction: the row is there
            return self._duplicate_of(
                models.Task.objects.using(self.database).get(pk=holder.task_id)
            )
        # Started (or cancelled, or deleted): this call begins a new burst.
        self._take_over(latest)
        return self._insert_task(row)

    def unique(self) -> Answer:
        """``unique=True``: insert unless a queued or running task has the key."""
        for _ in range(_UNIQUE_TRIES):
            with self.connection.cursor() as cursor:
                if self.dialect.insert_unique_task(
                    cursor,
                    table=models.Task._meta.db_table,
                    row=self.row,
                    unique_key=self.key,
                    columns=self.columns,
                ):
                    return self.snapshot, True
            existing = (
                models.Task.objects.using(self.database)
                .filter(unique_key=self.key, status__in=_ACTIVE)
                .first()
            )
            if existing is not None:
                return self._duplicate_of(existing)
            # The holder finished between the INSERT and the read: the key is free now.
        raise TaskflowError(
            f"Could not enqueue unique task {self.definition.module_path}: the task "
            f"holding its key finished and another took it, {_UNIQUE_TRIES} times in a row."
        )
