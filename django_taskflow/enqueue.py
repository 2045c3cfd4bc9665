"""Build and insert Task rows: the one way work enters the queue.

Inside ``transaction.atomic()`` the rows become visible to workers at
commit, and vanish with a rollback; ``task_enqueued`` is sent after commit.
In autocommit, an insert that is one statement runs without BEGIN and
COMMIT: one round trip.
On PostgreSQL a statement trigger NOTIFYs waiting workers (see
``db/postgres.py``). Rows are written by the dialect's ``insert_tasks``
rather than ``bulk_create``: building ORM instances and compiling the
INSERT cost more than the database write itself (see docs/architecture.md).
Tasks with ``dedup`` or ``unique`` take their own path, ``enqueue_dedup``,
after the rows are built; every other task pays one attribute check for it.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from django.db import DatabaseError, connections, transaction
from django.tasks import Task
from django.tasks.signals import task_enqueued
from django.utils import timezone

from django_taskflow import enqueue_dedup, invocation, limits, models, results
from django_taskflow.db import INSERT_COLUMNS, dialect_for
from django_taskflow.encoding import arguments as stored_arguments
from django_taskflow.exceptions import InvalidTaskOptions, MigrationsNotApplied
from django_taskflow.policies import DEFAULT_RETRY_POLICY
from django_taskflow.states import OnLost, Status

if TYPE_CHECKING:
    from django_taskflow.backend import TaskflowBackend

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class _Settings:
    """What every row of one enqueue call shares."""

    task_path: str
    backend: str
    queue_name: str
    priority: int
    key: str | None
    tags_json: str
    max_attempts: int
    retry_policy_json: str
    timeout_soft: float | None
    timeout_hard: float | None
    on_lost: str
    requires_json: str | None  # None (NULL) for a task that requires nothing
    concurrency: limits.Concurrency | None
    rate_limit: limits.RateLimit | None


def _settings(backend: TaskflowBackend, definition: Task[Any, Any]) -> _Settings:
    """Resolve the definition's options against the backend's defaults, once per call."""
    config = backend.config
    policy = getattr(definition, "retry", None) or config.retry_policy or DEFAULT_RETRY_POLICY
    timeout = getattr(definition, "timeout", None) or config.default_timeout
    return _Settings(
        task_path=definition.module_path,
        backend=backend.alias,
        queue_name=definition.queue_name,
        priority=definition.priority,
        key=getattr(definition, "key", None),
        tags_json=json.dumps(list(getattr(definition, "tags", ()))),
        max_attempts=(
            getattr(definition, "max_attempts", None) or policy.max_attempts or config.max_attempts
        ),
        retry_policy_json=json.dumps(policy.to_json()),
        timeout_soft=timeout.soft if timeout else None,
        timeout_hard=timeout.hard if timeout else None,
        on_lost=getattr(definition, "on_lost", OnLost.REQUEUE),
        requires_json=_requires_json(getattr(definition, "requires", ())),
        concurrency=getattr(definition, "concurrency", None),
        rate_limit=getattr(definition, "rate_limit", None),
    )


def _requires_json(requires: Iterable[str]) -> str | None:
    return json.dumps(sorted(set(requires))) if requires else None


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
    invocation.check_importable(definition)
    database = backend.config.database
    connection = connections[database]
    shared = _settings(backend, definition)
    writer = stored_arguments.writer_for(
        definition, backend.config.max_payload_bytes, backend.config.encryption_keys
    )
    # Only rows stored other than as plain JSON of the first version write it.
    encoding = () if writer.column is None else (writer.column,)
    pk = models.Task._meta.pk
    run_after = connection.ops.adapt_datetimefield_value(definition.run_after or now)
    enqueued_at = connection.ops.adapt_datetimefield_value(now)
    # Only limited tasks write the gate's columns; every other row leaves
    # them NULL, as the plain claim expects.
    gated = shared.concurrency is not None or shared.rate_limit is not None
    rows: list[tuple[Any, ...]] = []
    snapshots = []
    for index, (args, kwargs) in enumerate(calls):
        invocation.bind_arguments(definition, args, kwargs)
        plain_args, plain_kwargs = writer.as_json(args, kwargs)
        task_id = models.new_task_id()
        args_json, kwargs_json = writer.encode(plain_args, plain_kwargs, task_id)
        gate = _gate(shared, definition, args, kwargs) if gated else ()
        rows.append(
            (
                pk.get_db_prep_value(task_id, connection),
                shared.task_path,
                shared.backend,
                shared.queue_name,
                shared.priority,
                Status.QUEUED.value,
                args_json,
                kwargs_json,
                shared.key,
                shared.tags_json,
                0,
                shared.max_attempts,
                shared.retry_policy_json,
                shared.timeout_soft,
                shared.timeout_hard,
                "{}",
                run_after,
                enqueued_at,
                shared.on_lost,
                shared.requires_json,
                *gate,
                *encoding,
                *(() if flow_links is None else flow_links[index]),
            )
        )
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
    columns: tuple[str, ...] = INSERT_COLUMNS + limits.GATE_COLUMNS if gated else INSERT_COLUMNS
    if encoding:
        columns += ("encoding",)
    if flow_links is not None:
        columns += FLOW_COLUMNS
    if getattr(definition, "dedup", None) is not None or getattr(definition, "unique", False):
        try:
            answers, inserted = enqueue_dedup.insert(
                definition, database, calls, rows, snapshots, now, columns=columns
            )
        except DatabaseError as exc:
            _explain(database, exc)
            raise
        announce(backend, database, inserted)
        return answers
    table = models.Task._meta.db_table
    dialect = dialect_for(database)
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
        with own_transaction, connection.cursor() as cursor:
            dialect.insert_tasks(
                cursor,
                table=table,
                rows=rows,
                columns=columns,
            )
    except DatabaseError as exc:
        _explain(database, exc)
        raise
    announce(backend, database, snapshots)
    return snapshots


def announce(
    backend: TaskflowBackend, database: str, snapshots: Sequence[results.TaskflowResult]
) -> None:
    """Send ``task_enqueued`` for each new task once the rows are committed."""

    def send() -> None:
        for snapshot in snapshots:
            task_enqueued.send(type(backend), task_result=snapshot)

    transaction.on_commit(send, using=database)


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


def _gate(
    shared: _Settings, definition: Task[Any, Any], args: Sequence[Any], kwargs: Mapping[str, Any]
) -> tuple[Any, ...]:
    gate = limits.gate_for(
        task_path=shared.task_path,
        func=definition.func,
        takes_context=definition.takes_context,
        concurrency=shared.concurrency,
        rate_limit=shared.rate_limit,
        args=args,
        kwargs=kwargs,
    )
    return gate.as_row() if gate is not None else ()


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


# A flow's step: its flow's id and its position (flows/), after any gate's columns.
FLOW_COLUMNS = ("flow_id", "flow_position")


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
