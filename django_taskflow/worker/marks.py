"""What a slot tells its supervisor about the task bodies it is running.

When a slot dies, its supervisor must know which of the tasks it held had
started (lost mid-run: a ``lost`` attempt, subject to ``on_lost``) and
which had not (handed back with no attempt charged). A slot marks a task
just before its body starts and clears the mark once the task's outcome is
committed, so a body that returned but whose outcome still sat in the
recorder's buffer counts as started: it may have had effects.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection
from typing import Protocol


class RunningMarks(Protocol):
    """The slot's side of the table its supervisor reads."""

    def started(self, task_id: uuid.UUID, attempt: int, hard_limit: float | None) -> None:
        """Mark ``task_id`` as running its body from now (``hard_limit`` in seconds)."""

    def body_ended(self, task_id: uuid.UUID) -> None:
        """The body of ``task_id`` returned or raised: its hard limit no longer
        applies, but its mark stays until its outcome is committed."""

    def committed(self, task_ids: Collection[uuid.UUID]) -> None:
        """Clear the marks of tasks whose outcome is committed or that were handed back."""


class NoMarks:
    """Marks for a slot that no supervisor watches (inline ``run_tasks``)."""

    def started(self, task_id: uuid.UUID, attempt: int, hard_limit: float | None) -> None:
        """Nobody reads the marks."""

    def body_ended(self, task_id: uuid.UUID) -> None:
        """Nobody reads the marks."""

    def committed(self, task_ids: Collection[uuid.UUID]) -> None:
        """Nobody reads the marks."""


NO_MARKS = NoMarks()
