"""The Event row: one thing that happened to a task, in order."""

from __future__ import annotations

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class EventKind(models.TextChoices):
    """What happened."""

    STARTED = "started", _("Started")
    PROGRESS = "progress", _("Progress")
    SOFT_TIMEOUT = "soft_timeout", _("Soft timeout")
    RETRYING = "retrying", _("Retrying")
    SUCCEEDED = "succeeded", _("Succeeded")
    FAILED = "failed", _("Failed")
    CANCELLED = "cancelled", _("Cancelled")
    # An operator's doing (operations.retry_now / requeue); data holds "by".
    RETRIED = "retried", _("Retried by an operator")
    REQUEUED = "requeued", _("Requeued by an operator")
    # Handed back, uncharged, by a worker lacking its encryption key; data holds "key".
    KEY_MISSING = "key_missing", _("Handed back: encryption key missing")


class Event(models.Model):
    """Append-only log behind ``events.stream()``, ``monitor()`` and hooks.

    It exists so that anything outside the worker (a view, a script, a test,
    the admin) can follow tasks by reading forward from an id, without
    polling every task row. Written in the same transaction as the change it
    describes; its id orders events.
    """

    # No index of its own: taskflow_event_task_idx (task, id) starts with
    # task and serves every lookup by task.
    task = models.ForeignKey(
        "django_taskflow.Task",
        on_delete=models.CASCADE,
        related_name="event_set",
        db_index=False,
    )
    kind = models.CharField(max_length=16, choices=EventKind.choices)
    attempt = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)
    data = models.JSONField(default=dict, blank=True)

    class Meta:
        verbose_name = _("event")
        verbose_name_plural = _("events")
        ordering = ["id"]
        indexes = [
            models.Index(fields=["task", "id"], name="taskflow_event_task_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} of {self.task_id} (attempt {self.attempt})"
