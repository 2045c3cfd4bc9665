"""The DedupKey row: one deduplication key, held until it expires."""

from __future__ import annotations

from datetime import datetime

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class DedupKeyQuerySet(models.QuerySet["DedupKey"]):
    """Keys by whether they still hold."""

    def expired(self, now: datetime | None = None) -> DedupKeyQuerySet:
        """Keys past their expiry: free for the next enqueue, safe to delete."""
        return self.filter(expires_at__lte=now or timezone.now())


class DedupKey(models.Model):
    """A key of ``@task(dedup=...)``, held by the task enqueued under it until ``expires_at``.

    Why a table of its own: the key outlives its task's run (it is held
    until its TTL passes, whatever the outcome), and its primary key is the
    constraint that makes concurrent enqueues of one call insert one task.
    An expired row is taken over by the next enqueue of its key, in the
    same statement that finds it expired; rows nobody enqueues again may be
    deleted at any time (``DedupKey.objects.expired().delete()``).

    ``task_id`` is not a foreign key: pruning tasks must not have to look
    here, and a key whose task was deleted is taken over like an expired one.
    """

    key = models.CharField(
        primary_key=True,
        max_length=64,
        help_text=_("SHA-256 of the task's path and what identifies the call."),
    )
    task_id = models.UUIDField(help_text=_("The task enqueued under this key."))
    expires_at = models.DateTimeField(
        help_text=_("When the key is free again (with debounce: the latest start).")
    )

    objects = DedupKeyQuerySet.as_manager()

    class Meta:
        verbose_name = _("deduplication key")
        verbose_name_plural = _("deduplication keys")
        indexes = [models.Index(fields=["expires_at"], name="taskflow_dedup_expires_idx")]

    def __str__(self) -> str:
        return f"{self.key[:12]}… → {self.task_id}"
