"""Task and attempt states, and how they map onto ``django.tasks``.

Pure: no database access. ``claim.py`` and ``transitions.py`` are the only
writers of a task's status; each write is one UPDATE guarded by the status it
expects, so the moves they make are the state machine (drawn in
docs/architecture.md).
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


class AttemptOutcome(TextChoices):
    """How one attempt ended."""

    SUCCEEDED = "succeeded", _("Succeeded")
    FAILED = "failed", _("Failed")
    LOST = "lost", _("Lost (worker stopped heartbeating)")
    INTERRUPTED = "interrupted", _("Interrupted (worker forced to stop)")
    TIMED_OUT = "timed_out", _("Timed out (hard limit)")
    RETRY_REQUESTED = "retry_requested", _("Retry requested by the task")
    CANCELLED = "cancelled", _("Cancelled")


class OnLost(TextChoices):
    """What becomes of a task whose attempt was lost mid-run (the ``on_lost`` option)."""

    REQUEUE = "requeue", _("Run it again")
    FAIL = "fail", _("Fail it (it must not run twice)")


FINISHED = frozenset({Status.SUCCEEDED, Status.FAILED, Status.CANCELLED})
# The states a cancel can still change: a queued task is cancelled at once, a
# running one is asked to stop.
CANCELLABLE = frozenset({Status.QUEUED, Status.RUNNING})


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
