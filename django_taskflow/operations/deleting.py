"""Deleting: purge a queue's queued tasks, prune history, discard dead letters.

Each deletes in chunks of short transactions; attempts and events go with
their task. None touches a running task.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from django.db import transaction

from django_taskflow import models, rerun
from django_taskflow.exceptions import InvalidQuery
from django_taskflow.operations.inputs import operator_name
from django_taskflow.operations.queue_control import check_backend, check_queue
from django_taskflow.operations.twins import async_twin
from django_taskflow.selection import TaskSelection, in_chunks
from django_taskflow.states import Status

if TYPE_CHECKING:
    from django_taskflow.retention import PruneReport

logger = logging.getLogger(__name__)


def purge_queue(name: str, *, dry_run: bool = False, backend: str = "default") -> int:
    """Delete every queued task of queue ``name``; return how many (would) go.

    Running tasks finish; a task claimed while the purge runs is left to
    run. With ``dry_run``, counts and deletes nothing. Raises
    :class:`InvalidQueueOperation` for a queue the backend does not have.
    """
    from django_taskflow import retention

    database = check_queue(backend, name).database
    if dry_run:
        return (
            models.Task.objects.using(database)
            .filter(backend=backend, queue_name=name, status=Status.QUEUED)
            .count()
        )
    count = retention.purge_queue(database, backend, name)
    logger.info(
        "queue %s purged: %d queued tasks deleted",
        name,
        count,
        extra={"action": "queue_purged", "queue": name},
    )
    return count


def prune(
    older_than: timedelta,
    *,
    status: str | Iterable[str] | None = None,
    chunk_size: int | None = None,
    dry_run: bool = False,
    backend: str = "default",
) -> PruneReport:
    """Delete finished tasks over ``older_than`` (a timedelta) old; see ``retention.prune``."""
    from django_taskflow import retention

    return retention.prune(
        older_than, status=status, chunk_size=chunk_size, dry_run=dry_run, backend=backend
    )


def prune_by_retention(
    *, chunk_size: int | None = None, dry_run: bool = False, backend: str = "default"
) -> PruneReport:
    """Delete the finished tasks that ``OPTIONS["RETENTION"]`` keeps no longer, as workers do.

    Raises :class:`InvalidQuery` when the backend sets no ``RETENTION``.
    """
    from django.utils import timezone

    from django_taskflow import retention

    config = check_backend(backend)
    if not config.retention:
        raise InvalidQuery(f"TASKS[{backend!r}]['OPTIONS'] sets no RETENTION.")
    cutoffs = retention.retention_cutoffs(config.retention, timezone.now())
    return retention.prune_statuses(
        config.database, backend, cutoffs, chunk_size=chunk_size, dry_run=dry_run
    )


def discard(task_ids: TaskSelection, *, by: Any = None, backend: str = "default") -> rerun.Report:
    """Delete the failed tasks selected, with their attempts and events; report the rest.

    Dead letters only: any other state is refused. Deleting, not marking,
    is the decision (docs/howto/admin.md): a discarded task is one the
    operator has dealt with, and the log line keeps who did it.
    """
    who = operator_name(by)

    def write(database: str, ids: list[uuid.UUID]) -> rerun.Report:
        with transaction.atomic(using=database):
            won = list(
                models.Task.objects.using(database)
                .select_for_update()
                .filter(pk__in=ids, status=Status.FAILED)
                .values_list("pk", flat=True)
            )
            models.Task.objects.using(database).filter(pk__in=won).only("pk").delete()
        for task_id in won:
            logger.info(
                "failed task %s discarded by %s",
                task_id,
                who or "an operator",
                extra={"action": "task_discarded", "task_id": str(task_id)},
            )
        report = rerun.Report(changed=len(won))
        if len(ids) > len(won):
            report.refused["it is not failed"] += len(ids) - len(won)
        return report

    return in_chunks(
        write,
        task_ids,
        backend=backend,
        operation="discard",
    )


adiscard = async_twin(discard)
