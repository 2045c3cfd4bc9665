"""The context a ``takes_context=True`` task receives."""

from __future__ import annotations

from dataclasses import dataclass

from django.tasks import TaskContext as DjangoTaskContext


@dataclass(frozen=True, slots=True, kw_only=True)
class TaskContext(DjangoTaskContext):
    """Django's ``TaskContext`` plus what the worker knows about this run.

    ``attempt`` is the number of this attempt (1 for the first run),
    counted in the database, so it survives worker restarts.
    """

    attempt_number: int
    max_attempts: int
    worker_id: str

    @property
    def attempt(self) -> int:  # type: ignore[override]
        return self.attempt_number

    @property
    def task_id(self) -> str:
        return self.task_result.id

    @property
    def is_last_attempt(self) -> bool:
        return self.attempt_number >= self.max_attempts
