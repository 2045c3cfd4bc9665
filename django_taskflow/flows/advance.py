"""Advance flows once their steps' outcomes are committed, exactly once.

A step's outcome is written by the recorder like any task's (one statement
on PostgreSQL, unchanged for tasks outside flows). Once it has committed,
the recorder calls :func:`advance_after` for the flows of the steps it
wrote. That is a second transaction, not part of the outcome's: the
outcome itself (a step's task in a final state that the flow's ``steps``
still shows open) is the durable "advance pending" marker, so a worker
that dies between the two commits loses nothing. :func:`sweep`, run by
every worker's lease keeper, finds such steps and advances their flows.

Exactly once: :func:`advance` starts with a guarded ``UPDATE`` of the
flow's row (``status = 'running'``), which locks it until commit
(PostgreSQL: a row lock; SQLite: the write lock). Under the lock it takes
in the outcomes of the tasks the caller committed (the sweep: of every
open step) and decides from the flow's ``steps``, which only advances
change. So when the last two members of a group end on two workers at
once, the first advance to take the lock records its member ended and
waits for the other; the second sees both ended and alone enqueues the
next step.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Collection, Iterable, Iterator
from datetime import datetime, timedelta
from typing import Any

from django.db import DatabaseError, transaction
from django.utils import timezone

from django_taskflow import models, signals
from django_taskflow.encoding import results as stored_results
from django_taskflow.encoding import stored as stored_encoding
from django_taskflow.exceptions import TaskflowError
from django_taskflow.flows import progress
from django_taskflow.states import FINISHED

logger = logging.getLogger(__name__)

# A step that ended this long ago and is still open in its flow was missed
# (its worker died after the outcome's commit): the sweep advances its flow.
SWEEP_GRACE = timedelta(seconds=2)
SWEEP_LIMIT = 100
# A running flow not advanced for this many leases is advanced by the sweep
# anyway, so that a step whose task was deleted (pruned, purged, deleted by
# hand) before its outcome was taken in fails the flow instead of stalling it.
QUIET_LEASES = 5
# Open steps' tasks read per statement: SQLite takes at most 32,766 parameters.
READ_CHUNK = 1000

_STEP_STATE = {
    "succeeded": progress.SUCCEEDED,
    "failed": progress.FAILED,
    "cancelled": progress.CANCELLED,
}


def advance(
    database: str,
    flow_id: Any,
    now: datetime | None = None,
    ended: Collection[uuid.UUID] | None = None,
) -> bool:
    """Take in the ended steps of a running flow and start what is due.

    ``ended``: the tasks whose outcome the caller committed; only those are
    read (None: every open step's). Each step's outcome is followed by an
    advance for it, so reading the others is not needed, and a batch's
    advance stays the size of what ended. Returns whether the flow
    finished. Safe to call any number of times: a flow with nothing new
    is left as it is.
    """
    now = now or timezone.now()
    with transaction.atomic(using=database):
        locked = (
            models.Flow.objects.using(database)
            .filter(pk=flow_id, status=models.FlowStatus.RUNNING)
            .update(advanced_at=now)
        )
        if not locked:
            return False
        flow = models.Flow.objects.using(database).get(pk=flow_id)
        absorb(database, flow, ended)
        finished = progress.forward(flow, database, now)
        save(flow, database)
        if finished:
            announce(database, flow)
    return finished


def save(flow: models.Flow, database: str) -> None:
    flow.save(
        using=database,
        update_fields=["status", "steps", "stage", "result", "error", "finished_at"],
    )


def absorb(database: str, flow: models.Flow, only: Collection[uuid.UUID] | None = None) -> None:
    """Copy the outcomes of the flow's open steps' tasks (or of ``only``) into its ``steps``.

    A step whose task is gone fails, saying so: its outcome can no longer
    be known, and the flow must not wait for it forever.
    """
    wanted = None if only is None else {str(task_id) for task_id in only}
    open_steps = {
        state["task"]: position
        for position, state in enumerate(flow.steps)
        if state["state"] == progress.QUEUED and (wanted is None or state["task"] in wanted)
    }
    if not open_steps:
        return
    failed: list[uuid.UUID] = []
    found: set[str] = set()
    for task_id, status, result, encoding in _open_tasks(database, list(open_steps)):
        found.add(str(task_id))
        if status not in FINISHED:
            continue
        position = open_steps[str(task_id)]
        state: dict[str, Any] = {"state": _STEP_STATE[status], "task": str(task_id)}
        if status == "succeeded":
            state["result"] = _passed_on(task_id, result, encoding)
        else:
            failed.append(task_id)
        flow.steps[position] = state
    if failed:
        _add_errors(database, flow, failed, open_steps)
    for task_id in open_steps.keys() - found:
        _fail_missing(flow, open_steps[task_id], task_id)


def _open_tasks(
    database: str, task_ids: list[str]
) -> Iterator[tuple[uuid.UUID, str, Any, str | None]]:
    """(id, status, result, encoding) of those of ``task_ids`` that exist."""
    for start in range(0, len(task_ids), READ_CHUNK):
        chunk = task_ids[start : start + READ_CHUNK]
        rows = models.Task.objects.using(database).filter(pk__in=chunk).order_by()
        yield from rows.values_list("id", "status", "result", "encoding")


def _passed_on(task_id: uuid.UUID, result: Any, encoding: str | None) -> Any:
    """A step's stored result as the next step gets it: an encoded one decoded.

    An encrypted one (flows refuse encrypted steps; a flow stored before
    they did) stays as stored: decoded, it would sit in the clear in the flow's row.
    """
    if encoding is None or stored_encoding.read(encoding).key_id is not None:
        return result
    try:
        return stored_results.decode(result, task_id, encoding, ())
    except TaskflowError as exc:  # an encoder this process lacks
        logger.warning(
            "Cannot decode the result of step task %s: %s",
            task_id,
            exc,
            extra={"action": "payload_unreadable", "task_id": str(task_id)},
        )
        return result


def _fail_missing(flow: models.Flow, position: int, task_id: str) -> None:
    flow.steps[position] = {
        "state": progress.FAILED,
        "task": task_id,
        "error": f"its task {task_id} was deleted before the flow took in its outcome",
    }
    logger.warning(
        "flow %s: the task %s of step %d is gone; the step failed",
        flow.id,
        task_id,
        position,
        extra={"action": "flow_step_missing", "flow_id": str(flow.id), "task_id": task_id},
    )


def _add_errors(
    database: str, flow: models.Flow, task_ids: list[uuid.UUID], positions: dict[str, int]
) -> None:
    """Each failed step's last error, for the flow's page and its ``error``."""
    last_errors = (
        models.Attempt.objects.using(database)
        .filter(task_id__in=task_ids)
        .order_by("task_id", "number")
        .values_list("task_id", "error_class", "error_message")
    )
    for task_id, error_class, message in last_errors:
        if error_class:
            state = flow.steps[positions[str(task_id)]]
            state["error"] = f"{error_class}: {message}" if message else error_class


def announce(database: str, flow: models.Flow) -> None:
    """Send ``flow_finished`` once the flow's final state is committed."""
    snapshot = flow

    def send() -> None:
        signals.send_from_worker(signals.flow_finished, models.Flow, flow=snapshot)

    transaction.on_commit(send, using=database)
    logger.info(
        "flow %s %s",
        flow.id,
        flow.status,
        extra={"action": "flow_finished", "flow_id": str(flow.id), "status": flow.status},
    )


def advance_after(database: str, ended: Iterable[tuple[uuid.UUID, uuid.UUID]]) -> None:
    """Advance each flow of ``(flow id, task id)`` once, for the tasks whose
    outcomes were just committed; never raises:
    a flow left behind is advanced by the sweep."""
    by_flow: dict[uuid.UUID, list[uuid.UUID]] = {}
    for flow_id, task_id in ended:
        by_flow.setdefault(flow_id, []).append(task_id)
    for flow_id in sorted(by_flow):
        try:
            advance(database, flow_id, ended=by_flow[flow_id])
        except DatabaseError:
            logger.warning(
                "could not advance flow %s now; the sweep will",
                flow_id,
                exc_info=True,
                extra={"action": "flow_advance_failed", "flow_id": str(flow_id)},
            )
        except Exception:
            # The recorder's outcomes are committed: never make it write them again.
            logger.exception(
                "advancing flow %s failed",
                flow_id,
                extra={"action": "flow_advance_failed", "flow_id": str(flow_id)},
            )


def sweep(database: str, now: datetime | None = None, *, lease_seconds: float = 30.0) -> int:
    """Advance running flows with a step that ended unnoticed, past their deadline,
    or not advanced for ``QUIET_LEASES`` leases (their steps' tasks may be gone).

    Returns how many flows it found due (it advances at most ``SWEEP_LIMIT``).
    """
    now = now or timezone.now()
    # Running flows first (a partial index holds only them), least recently
    # advanced first; then their steps' tasks, through the flow index. One
    # statement joining the two would let the planner walk the task table.
    running = list(
        models.Flow.objects.using(database)
        .filter(status=models.FlowStatus.RUNNING)
        .order_by("advanced_at")
        .values_list("id", "deadline", "advanced_at")[: SWEEP_LIMIT * 10]
    )
    if not running:
        return 0
    quiet_since = now - timedelta(seconds=lease_seconds * QUIET_LEASES)
    urgent = {flow_id for flow_id, deadline, _ in running if deadline and deadline < now}
    urgent |= _with_missed_steps(database, [flow_id for flow_id, _, _ in running], now)
    # Then the quiet ones, least recently advanced first: each advance moves
    # its flow to the back, so the next sweeps reach the others.
    quiet = [
        flow_id
        for flow_id, _, advanced_at in running
        if advanced_at < quiet_since and flow_id not in urgent
    ]
    due = [*sorted(urgent), *quiet]
    for flow_id in due[:SWEEP_LIMIT]:
        advance(database, flow_id, now)
    return len(due)


def _with_missed_steps(database: str, running: list[uuid.UUID], now: datetime) -> set[uuid.UUID]:
    """The flows among ``running`` with a step whose task ended a while ago, still open."""
    missed = (
        models.Task.objects.using(database)
        .filter(
            flow_id__in=running,
            status__in=FINISHED,
            finished_at__lt=now - SWEEP_GRACE,
        )
        .order_by()
        .values_list("flow_id", "id")
        .iterator()
    )
    candidates: dict[uuid.UUID, set[str]] = {}
    for flow_id, task_id in missed:
        candidates.setdefault(flow_id, set()).add(str(task_id))
    if not candidates:
        return set()
    return {
        flow_id
        for flow_id, steps in models.Flow.objects.using(database)
        .filter(pk__in=list(candidates))
        .values_list("id", "steps")
        if {s.get("task") for s in steps if s["state"] == progress.QUEUED} & candidates[flow_id]
    }
