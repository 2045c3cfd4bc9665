"""Build and insert Task rows: the one way work enters the queue.

Inside ``transaction.atomic()`` the rows become visible to workers at
commit, and vanish with a rollback; ``task_enqueued`` is sent after commit.
In autocommit, an insert that is one statement runs without BEGIN and
COMMIT: one round trip.
On PostgreSQL a statement trigger NOTIFYs waiting workers (see
``db/postgres.py``). Rows are written by the dialect's ``write_tasks``
rather than ``bulk_create``: building ORM instances and compiling the
INSERT cost more than the database write itself (see docs/architecture.md).
What every enqueue of a definition shares is worked out once
(``enqueue_plan``). Tasks with ``dedup`` or ``unique`` take their own path,
``enqueue_dedup``, after the rows are built; every other task pays one
attribute check for it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from datetime import datetime
from typing import TYPE_CHECKING, Any

from django.db import DatabaseError, connections, transaction
from django.tasks import Task
from django.tasks.signals import task_enqueued
from django.utils import timezone

from django_taskflow import enqueue_dedup, enqueue_plan, models, results, signals
from django_taskflow.exceptions import InvalidTaskOptions, MigrationsNotApplied
from django_taskflow.states import Status

if TYPE_CHECKING:
    from django_taskflow.backend import TaskflowBackend

logger = logging.getLogger(__name__)


def split_call(call: Any) -> tuple[Sequence[Any], Mapping[str, Any]]:
    """Read one entry of ``enqueue_many``: positional args, or a dict of kwargs."""
    if type(call) is tuple:  # the common case, without the slower check of a Mapping
        return call, {}
    if isinstance(call, Mapping):
        return (), call
    if isinstance(call, list | tuple):
        return call, {}
    raise InvalidTaskOptions(
        "Each call given to enqueue_many must be a list or tuple of positional "
        f"arguments or a dict of keyword arguments, got {type(call).__name__}."
    )


def _insert(
    backend: TaskflowBackend,
    definition: Task[Any, Any],
    calls: Sequence[tuple[Sequence[Any], Mapping[str, Any]]],
    now: datetime,
    flow_links: Sequence[tuple[Any, int]] | None = None,
) -> list[results.TaskflowResult]:
    plan = enqueue_plan.plan_for(backend, definition)
    database = plan.database
    connection = connections[database]
    writer = plan.writer
    constants = plan.constants
    is_gated = plan.is_gated
    has_native_uuid = plan.has_native_uuid
    enqueued_at = connection.ops.adapt_datetimefield_value(now)
    run_after = (
        enqueued_at
        if definition.run_after is None
        else connection.ops.adapt_datetimefield_value(definition.run_after)
    )
    rows: list[tuple[Any, ...]] = []
    snapshots = []
    check_arguments = plan.check_arguments
    has_typed_arguments = plan.has_typed_arguments
    for index, (args, kwargs) in enumerate(calls):
        check_arguments(args, kwargs)
        plain_args, plain_kwargs = (
            writer.as_json(args, kwargs) if has_typed_arguments else (args, kwargs)
        )
        task_id = models.new_task_id()
        args_json, kwargs_json = writer.encode(plain_args, plain_kwargs, task_id)
        row: tuple[Any, ...] = (
            task_id if has_native_uuid else task_id.hex,
            args_json,
            kwargs_json,
            run_after,
            enqueued_at,
        )
        if is_gated:
            row += plan.gate(args, kwargs)
        if flow_links is not None:
            row += flow_links[index]
        rows.append(row + constants)
        snapshots.append(
            results.build(
                definition,
                task_id=task_id,
                status=Status.QUEUED,
                # TaskResult normalises these as storage would (tuples to lists).
                args=list(plain_args),
                kwargs=dict(plain_kwargs),
                enqueued_at=now,
                encoding=writer.column,
            )
        )
    if not rows:
        return []
    columns = plan.columns if flow_links is None else plan.flow_columns
    if plan.is_deduplicated:
        try:
            answers, inserted = enqueue_dedup.insert(
                definition, database, calls, rows, snapshots, now, columns=columns
            )
        except DatabaseError as exc:
            _explain(database, exc)
            raise
        announce(backend, database, inserted)
        return answers
    dialect = plan.dialect
    # In autocommit, an insert that is one statement is a transaction by
    # itself: BEGIN and COMMIT around it would cost two more round trips on
    # PostgreSQL and make it no more all-or-nothing. Inside the caller's
    # transaction, a savepoint keeps a failed insert from spoiling it.
    own_transaction: AbstractContextManager[object] = (
        nullcontext()
        if connection.get_autocommit() and dialect.inserts_in_one_statement(len(rows))
        else transaction.atomic(using=database)
    )
    try:
        with own_transaction:
            dialect.write_tasks(
                connection, table=models.Task._meta.db_table, rows=rows, columns=columns
            )
    except DatabaseError as exc:
        _explain(database, exc)
        raise
    announce(backend, database, snapshots)
    return snapshots


def announce(
    backend: TaskflowBackend, database: str, snapshots: Sequence[results.TaskflowResult]
) -> None:
    """Send ``task_enqueued`` for each new task once the rows are committed.

    In autocommit the rows are committed already, and when nothing would
    hear the signal (``signals.is_heard``) there is nothing to send.
    """

    def send() -> None:
        for snapshot in snapshots:
            task_enqueued.send(type(backend), task_result=snapshot)

    connection = connections[database]
    if connection.in_atomic_block or not connection.get_autocommit():
        transaction.on_commit(send, using=database)
    elif signals.is_heard(task_enqueued):
        send()


def _explain(database: str, exc: DatabaseError) -> None:
    """Raise :class:`MigrationsNotApplied` when ``exc`` came from a missing table.

    Checked only after a failure, so that a normal enqueue pays nothing for it.
    """
    for table in (models.Task._meta.db_table, models.DedupKey._meta.db_table):
        if not _table_exists(database, table):
            # The first line only: PostgreSQL adds the statement and a caret.
            reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise MigrationsNotApplied(
                f"The table {table} does not exist in database {database!r}: run "
                f"`manage.py migrate` to create django_taskflow's tables ({reason})."
            ) from exc


def _table_exists(database: str, table: str) -> bool:
    """Whether ``table`` exists; True when that cannot be asked now.

    When in doubt the caller re-raises the database's own error, which is
    then the one to show.
    """
    connection = connections[database]
    if connection.in_atomic_block and connection.needs_rollback:
        return True
    try:
        with connection.cursor() as cursor:
            return table in connection.introspection.table_names(cursor)
    except DatabaseError:
        return True


def enqueue(
    backend: TaskflowBackend,
    definition: Task[Any, Any],
    args: Sequence[Any],
    kwargs: Mapping[str, Any],
    now: datetime | None = None,
) -> results.TaskflowResult:
    """Insert one task row and return its result snapshot."""
    return _insert(backend, definition, [(args, kwargs)], now or timezone.now())[0]


def insert_steps(
    backend: TaskflowBackend,
    definition: Task[Any, Any],
    calls: Sequence[tuple[Sequence[Any], Mapping[str, Any]]],
    flow_links: Sequence[tuple[Any, int]],
    now: datetime,
) -> list[results.TaskflowResult]:
    """Insert one row per call, each linked to a flow at a position."""
    return _insert(backend, definition, calls, now, flow_links)


def enqueue_many(
    backend: TaskflowBackend,
    definition: Task[Any, Any],
    calls: Iterable[Any],
    now: datetime | None = None,
) -> list[results.TaskflowResult]:
    """Insert one row per call in one statement; all of them or none."""
    return _insert(backend, definition, [split_call(call) for call in calls], now or timezone.now())
