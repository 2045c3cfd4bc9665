"""The QueueState row: what an operator changed about a queue at run time."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _


class QueueState(models.Model):
    """An operator's runtime steering of one queue: paused, or a limit override.

    Why a table: a pause or a changed limit must reach every worker on
    every host without a restart, and survive restarts, so it lives in
    the database that all of them share. Workers read it about twice a
    second (``worker/queue_control.py``). Written only by
    ``operations.py`` (``pause_queue``, ``resume_queue``,
    ``set_queue_limit``), which the admin and the command line call. A
    queue without a row is running, with the limit from
    ``OPTIONS["QUEUE_LIMITS"]``.
    """

    backend = models.CharField(max_length=100, default="default")
    name = models.CharField(_("queue"), max_length=100)
    paused = models.BooleanField(
        default=False, help_text=_("Its queued tasks wait; running ones finish.")
    )
    limit_override = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text=_(
            "Most tasks of the queue running at once, across all workers; "
            'empty: OPTIONS["QUEUE_LIMITS"] decides.'
        ),
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("queue state")
        verbose_name_plural = _("queue states")
        constraints = [
            models.UniqueConstraint(
                fields=["backend", "name"], name="taskflow_queuestate_unique_queue"
            ),
            models.CheckConstraint(
                condition=models.Q(limit_override__gte=1),
                name="taskflow_queuestate_limit_positive",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.backend})"
