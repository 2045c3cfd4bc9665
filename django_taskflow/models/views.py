"""Proxy models: the operator's views of the task table (dead letters, stuck tasks).

No table of their own: each is the Task table seen through a filter, so
that the admin can list them on pages of their own with their own actions.
"""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

from django_taskflow.models.task import Task


class DeadLetter(Task):
    """A failed task: it ran out of attempts, or failed in a way not retried."""

    class Meta:
        proxy = True
        verbose_name = _("dead letter")
        verbose_name_plural = _("dead letters")


class StuckTask(Task):
    """A running task whose lease expired long ago, with no live worker holding it."""

    class Meta:
        proxy = True
        verbose_name = _("stuck task")
        verbose_name_plural = _("stuck tasks")
