"""Cancel a running flow, resume a failed one: guarded writes on the Flow row."""

from __future__ import annotations

import logging
import uuid
from typing import Any

from django.db import transaction
from django.utils import timezone

from django_taskflow import cancellation, models
from django_taskflow.exceptions import InvalidFlowOperation
from django_taskflow.flows import advance, progress

logger = logging.getLogger(__name__)


def cancel(database: str, flow_id: Any, *, by: str = "", reason: str = "") -> bool:
    """Cancel a running flow: its pending steps never run, its queued steps'
    tasks are cancelled and its running ones asked to stop. False if it had
    already ended."""
    now = timezone.now()
    with transaction.atomic(using=database):
        if (
            not models.Flow.objects.using(database)
            .filter(pk=flow_id, status=models.FlowStatus.RUNNING)
            .update(advanced_at=now)
        ):
            return False
        flow = models.Flow.objects.using(database).get(pk=flow_id)
        advance.absorb(database, flow)
        open_tasks = [
            uuid.UUID(state["task"]) for state in flow.steps if state["state"] == progress.QUEUED
        ]
        if open_tasks:
            cancellation.cancel(database, open_tasks, by=by, reason=reason, now=now)
        flow.steps = [
            {**state, "state": progress.CANCELLED}
            if state["state"] == progress.QUEUED
            else state
            if state["state"] in progress.ENDED
            else {"state": progress.NEVER_RUN}
            for state in flow.steps
        ]
        flow.status = models.FlowStatus.CANCELLED
        flow.error = _describe(by, reason)
        flow.finished_at = now
        advance.save(flow, database)
        advance.announce(database, flow)
    return True


def _describe(by: str, reason: str) -> str:
    text = f"cancelled by {by}" if by else "cancelled"
    return f"{text}: {reason}" if reason else text


def resume(database: str, flow_id: Any) -> None:
    """Run a failed flow again from its failed stage, keeping the results before.

    Steps that failed, were cancelled or never ran become pending again, and
    so do its callbacks; succeeded steps keep their results. Raises
    :class:`InvalidFlowOperation` unless the flow has failed.
    """
    now = timezone.now()
    with transaction.atomic(using=database):
        resumed = (
            models.Flow.objects.using(database)
            .filter(pk=flow_id, status=models.FlowStatus.FAILED)
            .update(status=models.FlowStatus.RUNNING, advanced_at=now)
        )
        if not resumed:
            status = (
                models.Flow.objects.using(database)
                .filter(pk=flow_id)
                .values_list("status", flat=True)
                .first()
            )
            raise InvalidFlowOperation(
                f"Only a failed flow can be resumed; flow {flow_id} is {status or 'not found'}."
            )
        flow = models.Flow.objects.using(database).get(pk=flow_id)
        stages = flow.graph["stages"]
        flow.stage = next(
            (
                index
                for index, stage in enumerate(stages)
                if any(flow.steps[p]["state"] != progress.SUCCEEDED for p in stage["positions"])
            ),
            len(stages) - 1,
        )
        for stage in stages[flow.stage :]:
            for position in stage["positions"]:
                if stage["kind"] == "after" or flow.steps[position]["state"] != progress.SUCCEEDED:
                    flow.steps[position] = {"state": progress.PENDING}
        flow.error = ""
        flow.finished_at = None
        finished = progress.forward(flow, database, now)
        advance.save(flow, database)
        if finished:
            advance.announce(database, flow)
    logger.info(
        "flow %s resumed at stage %d",
        flow_id,
        flow.stage,
        extra={"action": "flow_resumed", "flow_id": str(flow_id)},
    )
