"""The Attempt row: one try at running a task."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _

from django_taskflow.states import AttemptOutcome


class Attempt(models.Model):
    """One execution of a task, kept so the history shows every try and error."""

    # No index of its own: the unique (task, number) constraint's index
    # starts with task and serves every lookup by task.
    task = models.ForeignKey(
        "django_taskflow.Task",
        on_delete=models.CASCADE,
        related_name="attempt_set",
        db_index=False,
    )
    number = models.PositiveIntegerField()
    worker_id = models.CharField(max_length=100)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField()
    outcome = models.CharField(max_length=16, choices=AttemptOutcome.choices)
    error_class = models.CharField(max_length=255, blank=True, default="")
    error_message = models.TextField(blank=True, default="")
    traceback = models.TextField(blank=True, default="")
    error_value = models.JSONField(
        null=True,
        blank=True,
        help_text=_("The value a validator returned to reject the result."),
    )

    class Meta:
        verbose_name = _("attempt")
        verbose_name_plural = _("attempts")
        ordering = ["task", "number"]
        constraints = [
            models.UniqueConstraint(
                fields=["task", "number"], name="taskflow_attempt_unique_number"
            )
        ]

    def __str__(self) -> str:
        return f"attempt {self.number} of {self.task_id}: {self.outcome}"

    @property
    def duration(self) -> float | None:
        """Seconds the attempt ran, when its start is known."""
        if self.started_at is None:
            return None
        return (self.finished_at - self.started_at).total_seconds()
