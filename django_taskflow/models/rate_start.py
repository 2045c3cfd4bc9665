"""The RateStart row: when an attempt of a rate-limited task started."""

from __future__ import annotations

from django.db import models


class RateStart(models.Model):
    """One attempt start of a rate-limited group, for its sliding windows.

    Written by the gated claim in the transaction that claims the task, so
    that every worker counts the same starts; each group's starts older
    than its window are deleted as it claims again. Tasks without a rate
    limit never write here.
    """

    rate_key = models.CharField(max_length=400)
    started_at = models.DateTimeField()

    class Meta:
        indexes = [models.Index(fields=["rate_key", "started_at"], name="taskflow_rate_start_idx")]

    def __str__(self) -> str:
        return f"{self.rate_key} at {self.started_at}"
