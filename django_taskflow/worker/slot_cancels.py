"""A slot's view of the cancel requests for the tasks it holds, and what they do to outcomes.

The lease keeper's thread hands in the requests it read (``update``); the
slot's main thread asks about the task it is about to start or has just
run, and the running task asks through ``context.is_cancelled``. ``update``
replaces the dict in one assignment, so a reader sees the old requests or
the new ones, never a dict being changed.
"""

from __future__ import annotations

import dataclasses
import logging
import time
import uuid

from django_taskflow.cancel_requests import CancelRequest
from django_taskflow.exceptions import TaskCancelled
from django_taskflow.execution import outcome as outcomes
from django_taskflow.states import AttemptOutcome, Status
from django_taskflow.worker.interrupts import Interrupts

# The slot's logger, as before this part had a module of its own.
logger = logging.getLogger("django_taskflow.worker.slot")


class SlotCancels:
    """The cancel requests for one slot's tasks, by task id."""

    def __init__(self, *, worker_id: str, interrupts: Interrupts, grace_seconds: float) -> None:
        self.worker_id = worker_id
        self.interrupts = interrupts
        self.grace_seconds = grace_seconds
        self.requests: dict[uuid.UUID, CancelRequest] = {}

    def get(self, task_id: uuid.UUID) -> CancelRequest | None:
        return self.requests.get(task_id) if self.requests else None

    def pop(self, task_id: uuid.UUID) -> CancelRequest | None:
        return self.requests.pop(task_id, None) if self.requests else None

    def find(self, task_id: str) -> CancelRequest | None:
        """The request for the task whose id is the text ``task_id``, if any."""
        if not self.requests:
            return None
        try:
            return self.requests.get(uuid.UUID(task_id))
        except ValueError:
            return None

    def update(self, requests: list[CancelRequest]) -> None:
        """From the lease keeper: the cancel requests stored for this slot's tasks.

        The running task sees its request at once (``context.is_cancelled``)
        and is stopped for real once ``CANCEL_GRACE_SECONDS`` have passed
        since the cancel; a prefetched one is ended without running.
        """
        known = self.requests
        by_id = {uuid.UUID(request.task_id): request for request in requests}
        self.requests = {task_id: known.get(task_id, request) for task_id, request in by_id.items()}
        self.interrupts.forget_cancels(set(by_id))
        for task_id, request in by_id.items():
            if task_id in known:
                continue
            logger.info(
                "task %s: %s; asking it to stop",
                request.task_id,
                request.describe(),
                extra={
                    "action": "cancel_received",
                    "task_id": request.task_id,
                    "worker_id": self.worker_id,
                },
            )
            deadline = time.monotonic() + max(0.0, self.grace_seconds - request.waited)
            self.interrupts.request_cancel(task_id, deadline)


def unstarted_outcome(request: CancelRequest) -> outcomes.Outcome:
    """The outcome of a prefetched task cancelled before it started."""
    return outcomes.cancelled(TaskCancelled(f"{request.describe()}; before it started"))


def cancelled_outcome(outcome: outcomes.Outcome, request: CancelRequest) -> outcomes.Outcome:
    """The outcome of an attempt whose task was cancelled while it ran.

    A success stands: the work was done. Anything else ends the task as
    ``cancelled`` (never a retry), keeping the error the attempt ended with.
    """
    if outcome.status == Status.SUCCEEDED or outcome.attempt_outcome == AttemptOutcome.CANCELLED:
        return outcome
    return dataclasses.replace(
        outcome,
        status=Status.CANCELLED,
        attempt_outcome=AttemptOutcome.CANCELLED,
        retry_at=None,
        error_message=f"{request.describe()}; the attempt ended with: {outcome.error_message}",
    )
