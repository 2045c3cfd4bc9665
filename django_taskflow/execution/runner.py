"""Run one claimed task and decide its outcome.

This is the execution boundary: whatever the task does, ``run`` returns an
:class:`~django_taskflow.execution.outcome.Outcome`, so every attempt ends
in a transition.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from django.tasks import Task

from django_taskflow import payloads, registry, results, signals
from django_taskflow.claim import ClaimedTask
from django_taskflow.exceptions import PayloadTooLarge, UnknownTask, UnserializablePayload
from django_taskflow.execution import outcome as outcomes
from django_taskflow.execution.context import TaskContext
from django_taskflow.states import Status

logger = logging.getLogger(__name__)


def running_snapshot(
    definition: Task, claimed: ClaimedTask, worker_id: str, started_at: datetime
) -> results.TaskflowResult:
    return results.build(
        definition,
        task_id=claimed.id,
        status=Status.RUNNING,
        args=claimed.args,
        kwargs=claimed.kwargs,
        enqueued_at=claimed.enqueued_at,
        started_at=claimed.started_at or started_at,
        last_attempted_at=started_at,
        worker_ids=[worker_id],
    )


def run(
    claimed: ClaimedTask,
    *,
    worker_id: str,
    max_bytes: int,
    now: Callable[[], datetime],
) -> tuple[outcomes.Outcome, results.TaskflowResult | None]:
    """Run ``claimed`` once; return its outcome and the running snapshot."""
    started_at = now()
    try:
        definition = registry.resolve(claimed.task_path)
    except UnknownTask as exc:
        logger.error(
            "task %s cannot run: %s",
            claimed.id,
            exc,
            extra={"action": "task_unknown", "task_id": str(claimed.id)},
        )
        return outcomes.failed(
            exc,
            attempt=claimed.attempt,
            max_attempts=claimed.max_attempts,
            retry_delay=0,
            now=started_at,
            retryable=False,
        ), None
    snapshot = running_snapshot(definition, claimed, worker_id, started_at)
    signals.send_from_worker(
        signals.task_started, type(definition.get_backend()), task_result=snapshot
    )
    try:
        if definition.takes_context:
            context = TaskContext(
                task_result=snapshot,
                attempt_number=claimed.attempt,
                max_attempts=claimed.max_attempts,
                worker_id=worker_id,
            )
            value = definition.call(context, *claimed.args, **claimed.kwargs)
        else:
            value = definition.call(*claimed.args, **claimed.kwargs)
    # The worker handles SIGINT and SIGTERM itself, so a KeyboardInterrupt or
    # SystemExit seen here was raised by the task's own code: it is that
    # attempt's error like any Exception. Anything else (a forced stop)
    # propagates to the slot, which hands the task back.
    except (Exception, KeyboardInterrupt, SystemExit) as exc:
        return outcomes.failed(
            exc,
            attempt=claimed.attempt,
            max_attempts=claimed.max_attempts,
            retry_delay=claimed.retry_delay,
            now=now(),
        ), snapshot
    try:
        encoded = payloads.encode_result(value, max_bytes)
    except (UnserializablePayload, PayloadTooLarge) as exc:
        # Running it again would return the same kind of value: no retry.
        return outcomes.failed(
            exc,
            attempt=claimed.attempt,
            max_attempts=claimed.max_attempts,
            retry_delay=0,
            now=now(),
            retryable=False,
        ), snapshot
    return outcomes.succeeded(encoded), snapshot
