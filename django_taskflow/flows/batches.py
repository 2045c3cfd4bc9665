"""``batch()``: one task per item, enqueued in one round trip, tracked as one unit."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from django_taskflow.flows.canvas import flow_options
from django_taskflow.flows.steps import Step

if TYPE_CHECKING:
    from django_taskflow.flows.handle import BatchResult


def batch(
    task: Any,
    items: Iterable[Any],
    *,
    on_complete: Step | None = None,
    on_failure: Step | None = None,
    finally_: Step | None = None,
    concurrency: int | None = None,
    tags: Sequence[str] = (),
    queue: str | None = None,
    priority: int | None = None,
    deadline: timedelta | datetime | None = None,
) -> BatchResult:
    """Enqueue ``task`` once per item (a dict of keyword arguments or a list of
    positional ones) and return the batch's :class:`BatchResult`.

    ``task`` is a definition or a step (``task.s(...)``, whose bound arguments
    every item shares). ``concurrency`` caps how many items run at once.
    When every item has ended, ``on_complete`` runs if none failed,
    ``on_failure`` if any failed for good, ``finally_`` always; each once. A
    callback whose function has a ``previous`` parameter gets each item's
    outcome there. Raises :class:`StepArgumentsMismatch` (a ``TypeError``)
    if an item's arguments cannot fit, and nothing is enqueued.
    """
    from django_taskflow.flows import starting

    step = task if isinstance(task, Step) else task.s()
    return starting.start_batch(
        step,
        list(items),
        callbacks={"succeeded": on_complete, "failed": on_failure, "always": finally_},
        concurrency=concurrency,
        options=flow_options(queue=queue, priority=priority),
        tags=tags,
        deadline=deadline,
    )
