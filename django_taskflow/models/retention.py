"""The PruneTurn row: whose turn it is to prune a backend's history."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _


class PruneTurn(models.Model):
    """One backend's pruning turn, taken by one worker at a time.

    Why a table: with ``OPTIONS["RETENTION"]`` every worker may prune, and
    one at a time is enough. A worker takes the turn with one guarded
    UPDATE (``next_at`` has passed, by the database's clock) that sets
    ``next_at`` a turn's length ahead; exactly one worker's UPDATE matches.
    No leader to elect, nothing to release: a worker that dies mid-turn
    only delays the next turn until ``next_at``.
    """

    backend = models.CharField(max_length=100, unique=True)
    next_at = models.DateTimeField(help_text=_("When the next worker may take the turn."))
    holder = models.CharField(
        max_length=100, blank=True, default="", help_text=_("The worker that took the last turn.")
    )
    last_pruned_at = models.DateTimeField(null=True, blank=True)
    last_deleted = models.PositiveBigIntegerField(
        default=0, help_text=_("Tasks the last finished turn deleted.")
    )

    class Meta:
        verbose_name = _("prune turn")
        verbose_name_plural = _("prune turns")

    def __str__(self) -> str:
        return f"prune turn of {self.backend}"
