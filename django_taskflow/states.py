"""Task and attempt states, and how they map onto ``django.tasks``.

Pure: no database access. The allowed moves are listed in
``TRANSITIONS``; ``transitions.py`` and ``claim.py`` are the only writers.
"""

from __future__ import annotations

from django.db.models import TextChoices
from django.tasks import TaskResultStatus
from django.utils.translation import gettext_lazy as _


class Status(TextChoices):
    """Where a task is in its life."""

    QUEUED = "queued", _("Queued")
    RUNNING = "running", _("Running")
    SUCCEEDED = "succeeded", _("Succeeded")
    FAILED = "failed", _("Failed")
    CANCELLED = "cancelled", _("Cancelled")


class Outcome(TextChoices):
    """How one attempt ended."""

    SUCCEEDED = "succeeded", _("Succeeded")
    FAILED = "failed", _("Failed")
    LOST = "lost", _("Lost (worker stopped heartbeating)")
    INTERRUPTED = "interrupted", _("Interrupted (worker forced to stop)")
    TIMED_OUT = "timed_out", _("Timed out (hard limit)")
    RETRY_REQUESTED = "retry_requested", _("Retry requested by the task")


FINISHED = frozenset({Status.SUCCEEDED, Status.FAILED, Status.CANCELLED})

TRANSITIONS: dict[Status, frozenset[Status]] = {
    Status.QUEUED: frozenset({Status.RUNNING, Status.CANCELLED}),
    Status.RUNNING: frozenset({Status.SUCCEEDED, Status.QUEUED, Status.FAILED, Status.CANCELLED}),
    Status.SUCCEEDED: frozenset(),
    Status.FAILED: frozenset(),
    Status.CANCELLED: frozenset(),
}

_TO_DJANGO = {
    Status.QUEUED: TaskResultStatus.READY,
    Status.RUNNING: TaskResultStatus.RUNNING,
    Status.SUCCEEDED: TaskResultStatus.SUCCESSFUL,
    Status.FAILED: TaskResultStatus.FAILED,
    # django.tasks has no cancelled state: a cancelled task did not succeed.
    Status.CANCELLED: TaskResultStatus.FAILED,
}


def to_django(status: str) -> TaskResultStatus:
    """Return the ``django.tasks`` status that stands for ``status``."""
    return _TO_DJANGO[Status(status)]


def is_finished(status: str) -> bool:
    """Tell whether ``status`` is terminal (it never changes again)."""
    return status in FINISHED
