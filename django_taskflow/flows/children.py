"""Child tasks (``context.spawn``): created with their parent's successful outcome.

A succeeded attempt's children form one flow of kind ``children`` (its
items run at once, independently), linked to the parent by
``Flow.parent_task``. ``transitions`` calls :func:`insert` inside the
transaction that writes the parent's outcome, so the children exist if and
only if that outcome does.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from django.tasks import task_backends

from django_taskflow.flows import starting

if TYPE_CHECKING:
    from django_taskflow.transitions import Completion


def insert(completions: Sequence[Completion]) -> None:
    """Create the children of each won ``completion`` (only succeeded ones have any)."""
    for completion in completions:
        steps = [dict(step) for step in completion.outcome.children]
        graph = {
            "steps": steps,
            "stages": [
                {"kind": "items", "positions": list(range(len(steps))), "concurrency": None},
                {"kind": "after", "positions": []},
            ],
        }
        starting.create(
            "children",
            task_backends[completion.task.backend],
            graph,
            {},
            (),
            None,
            parent_task=completion.task.id,
        )
