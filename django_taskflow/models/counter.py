"""The TaskCounter row: attempts ended so far, by task, outcome and duration bucket."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _

from django_taskflow.states import AttemptOutcome, Status


class TaskCounter(models.Model):
    """How many attempts of one task ended one way, in one duration bucket.

    Why a table: Prometheus counters must never go backwards and must add
    up every worker's attempts. Counting the Attempt rows would cost a scan
    of the history at each scrape, and pruning would make the counts fall;
    a counter kept in each worker process would be seen only in part. So
    the worker adds its batch's attempts to these rows in the statement
    (or transaction) that records them, and nothing ever subtracts: pruning
    leaves this table alone. Read through ``django_taskflow.counters``.

    One row per (backend, task, attempt outcome, task status after the
    attempt, duration bucket, shard): at most a few hundred rows per task
    name, summed when read.
    """

    backend = models.CharField(max_length=100)
    task_path = models.CharField(_("task"), max_length=255)
    outcome = models.CharField(max_length=16, choices=AttemptOutcome.choices)
    status = models.CharField(
        max_length=16,
        choices=Status.choices,
        help_text=_("The task's status after the attempt: queued means it was retried."),
    )
    bucket = models.FloatField(
        help_text=_(
            "Upper bound in seconds of the attempts' durations (infinity for the last "
            "bucket); -1 for attempts that ended without a duration (lost, killed)."
        )
    )
    shard = models.PositiveSmallIntegerField(
        default=0,
        help_text=_(
            "Spreads one count over several rows, chosen by the writing slot, so that "
            "slots recording at the same time rarely wait for each other's row."
        ),
    )
    attempts = models.PositiveBigIntegerField(default=0)
    seconds = models.FloatField(default=0.0, help_text=_("The attempts' durations, added up."))

    class Meta:
        verbose_name = _("task counter")
        verbose_name_plural = _("task counters")
        constraints = [
            # The upsert's conflict target (db.add_counts).
            models.UniqueConstraint(
                fields=["backend", "task_path", "outcome", "status", "bucket", "shard"],
                name="taskflow_counter_key",
            )
        ]

    def __str__(self) -> str:
        return (
            f"{self.task_path} {self.outcome}->{self.status} <= {self.bucket} "
            f"[{self.shard}]: {self.attempts}"
        )
