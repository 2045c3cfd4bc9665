"""Build and insert Task rows: the one way work enters the queue.

Inside ``transaction.atomic()`` the rows become visible to workers at
commit, and vanish with a rollback; ``task_enqueued`` is sent after commit.
On PostgreSQL a statement trigger NOTIFYs waiting workers (see
``db/postgres.py``).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from django.db import transaction
from django.tasks import Task
from django.tasks.signals import task_enqueued
from django.utils import timezone

from django_taskflow import models, payloads, results
from django_taskflow.exceptions import InvalidTaskOptions

if TYPE_CHECKING:
    from django_taskflow.backend import TaskflowBackend

logger = logging.getLogger(__name__)


def build_row(
    backend: TaskflowBackend,
    definition: Task,
    args: Sequence[Any],
    kwargs: Mapping[str, Any],
    now: datetime,
) -> models.Task:
    """Return an unsaved row for one call, after checking its arguments."""
    options = backend.config
    payloads.check_arguments(definition.module_path, args, kwargs, options.max_payload_bytes)
    max_attempts = getattr(definition, "max_attempts", None) or options.max_attempts
    retry_delay = getattr(definition, "retry_delay", None)
    return models.Task(
        id=models.new_task_id(),
        task_path=definition.module_path,
        backend=backend.alias,
        queue_name=definition.queue_name,
        priority=definition.priority,
        args=payloads.normalize(args),
        kwargs=payloads.normalize(kwargs),
        key=getattr(definition, "key", None),
        tags=list(getattr(definition, "tags", ())),
        max_attempts=max_attempts,
        retry_delay=options.retry_delay if retry_delay is None else retry_delay,
        run_after=definition.run_after or now,
        enqueued_at=now,
    )


def _snapshot(definition: Task, row: models.Task) -> results.TaskflowResult:
    return results.build(
        definition,
        task_id=row.id,
        status=row.status,
        args=row.args,
        kwargs=row.kwargs,
        enqueued_at=row.enqueued_at,
    )


def _announce(backend: TaskflowBackend, snapshots: list[results.TaskflowResult]) -> None:
    def send() -> None:
        for snapshot in snapshots:
            task_enqueued.send(type(backend), task_result=snapshot)

    transaction.on_commit(send, using=backend.config.database)


def enqueue(
    backend: TaskflowBackend,
    definition: Task,
    args: Sequence[Any],
    kwargs: Mapping[str, Any],
    now: datetime | None = None,
) -> results.TaskflowResult:
    """Insert one task row and return its result snapshot."""
    row = build_row(backend, definition, args, kwargs, now or timezone.now())
    models.Task.objects.using(backend.config.database).bulk_create([row])
    snapshot = _snapshot(definition, row)
    _announce(backend, [snapshot])
    return snapshot


def split_call(call: Any) -> tuple[Sequence[Any], Mapping[str, Any]]:
    """Read one entry of ``enqueue_many``: positional args, or a dict of kwargs."""
    if isinstance(call, Mapping):
        return (), call
    if isinstance(call, list | tuple):
        return call, {}
    raise InvalidTaskOptions(
        "Each call given to enqueue_many must be a list or tuple of positional "
        f"arguments or a dict of keyword arguments, got {type(call).__name__}."
    )


def enqueue_many(
    backend: TaskflowBackend,
    definition: Task,
    calls: Iterable[Any],
    now: datetime | None = None,
) -> list[results.TaskflowResult]:
    """Insert one row per call in one statement; all of them or none."""
    now = now or timezone.now()
    rows = [build_row(backend, definition, *split_call(call), now) for call in calls]
    database = backend.config.database
    with transaction.atomic(using=database):
        models.Task.objects.using(database).bulk_create(rows, batch_size=2000)
    snapshots = [_snapshot(definition, row) for row in rows]
    _announce(backend, snapshots)
    return snapshots
