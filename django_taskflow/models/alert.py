"""The AlertIncident row (one episode of an alert rule's condition) and the AlertTurn row."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _


class AlertIncident(models.Model):
    """One episode of an ``OPTIONS["ALERTS"]`` rule's condition, from first seen to resolved.

    Why a table: an alert is sent when the incident opens and a "resolved"
    when it ends, exactly once each, whichever worker evaluates and however
    often workers restart. Each of those is a guarded UPDATE of this row
    (``opened_at`` / ``resolved_at`` still empty), and only the evaluator
    whose UPDATE matched sends. A row whose ``opened_at`` is empty is
    pending: the condition holds but not yet for the rule's ``FOR``; it is
    deleted if the condition clears first. At most one unresolved row per
    (backend, rule, subject), by a partial unique constraint.
    """

    backend = models.CharField(max_length=100, default="default")
    rule = models.CharField(_("rule"), max_length=100)
    when = models.CharField(_("condition"), max_length=32)
    subject = models.CharField(
        _("subject"),
        max_length=255,
        blank=True,
        default="",
        help_text=_("The queue, task or schedule the incident is about; empty: the backend."),
    )
    detail = models.TextField(_("detail"), blank=True, default="")
    value = models.FloatField(_("value"), null=True, blank=True)
    breached_since = models.DateTimeField(_("condition since"))
    opened_at = models.DateTimeField(
        _("opened"), null=True, blank=True, help_text=_("Empty while pending (FOR not reached).")
    )
    resolved_at = models.DateTimeField(_("resolved"), null=True, blank=True)

    class Meta:
        verbose_name = _("alert incident")
        verbose_name_plural = _("alert incidents")
        ordering = ["-breached_since"]
        constraints = [
            models.UniqueConstraint(
                fields=["backend", "rule", "subject"],
                condition=models.Q(resolved_at__isnull=True),
                name="taskflow_alert_one_active",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.rule} ({self.subject})" if self.subject else self.rule

    @property
    def is_open(self) -> bool:
        return self.opened_at is not None and self.resolved_at is None


class AlertTurn(models.Model):
    """One backend's alert-evaluation turn, taken by one worker at a time.

    As ``PruneTurn``: a worker takes the turn with one guarded UPDATE
    (``next_at`` has passed, by the database's clock) that moves
    ``next_at`` one ``EVERY`` ahead, so the rules are evaluated once per
    interval whatever the number of workers.
    """

    backend = models.CharField(max_length=100, unique=True)
    next_at = models.DateTimeField(help_text=_("When the next worker may take the turn."))
    holder = models.CharField(
        max_length=100, blank=True, default="", help_text=_("The worker that took the last turn.")
    )

    class Meta:
        verbose_name = _("alert turn")
        verbose_name_plural = _("alert turns")

    def __str__(self) -> str:
        return f"alert turn of {self.backend}"
