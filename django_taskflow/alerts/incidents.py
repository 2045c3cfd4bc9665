"""Evaluate the alert rules: open, hold and resolve incidents, one worker at a time.

:func:`evaluate` takes the backend's alert turn (``turns.take_turn``: one
evaluator per ``EVERY``, however many workers), asks each rule what it
sees (``alerts/conditions.py``), and moves the ``AlertIncident`` rows:

- a condition seen for the first time makes a pending row (``opened_at``
  empty), or an open one at once when the rule has no ``FOR``;
- a pending row whose condition has held for ``FOR`` opens: a notice;
- a condition that cleared deletes a pending row (no alert) and resolves an
  open one: a notice;
- an open incident of a rule that is no longer configured is resolved.

Every opening and resolving is a guarded UPDATE (or an INSERT under the
one-unresolved-row constraint): a notice is sent only by the evaluator whose
write won, so no incident is announced twice, by two workers or after a
restart. Notices are delivered (``alerts/delivery.py``) after the writes
are committed.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.utils import timezone

from django_taskflow import models, turns
from django_taskflow.alerts import conditions
from django_taskflow.alerts.rules import AlertSettings, Rule
from django_taskflow.conf import Options

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True, kw_only=True)
class Notice:
    """An incident that opened or resolved in this evaluation: one alert to send."""

    incident: models.AlertIncident
    resolved: bool

    def as_json(self) -> dict[str, object]:
        """The body of the webhook and of the email, and the signal's ``payload``."""
        incident = self.incident
        return {
            "state": "resolved" if self.resolved else "firing",
            "rule": incident.rule,
            "when": incident.when,
            "subject": incident.subject,
            "backend": incident.backend,
            "detail": incident.detail,
            "value": incident.value,
            "incident_id": incident.pk,
            "breached_since": incident.breached_since.isoformat(),
            "opened_at": incident.opened_at.isoformat() if incident.opened_at else None,
            "resolved_at": incident.resolved_at.isoformat() if incident.resolved_at else None,
        }


def _unresolved(database: str, backend: str) -> QuerySet[models.AlertIncident]:
    return models.AlertIncident.objects.using(database).filter(
        backend=backend, resolved_at__isnull=True
    )


def _open(row: models.AlertIncident, database: str, now: datetime) -> Notice | None:
    won = (
        models.AlertIncident.objects.using(database)
        .filter(pk=row.pk, opened_at__isnull=True, resolved_at__isnull=True)
        .update(opened_at=now, detail=row.detail, value=row.value)
    )
    if not won:
        logger.debug(
            "incident %s opened by another evaluator", row, extra={"action": "alert_open_lost"}
        )
        return None
    row.opened_at = now
    logger.warning(
        "alert %s: %s",
        row,
        row.detail,
        extra={"action": "alert_opened", "rule": row.rule, "subject": row.subject},
    )
    return Notice(incident=row, resolved=False)


def _resolve(row: models.AlertIncident, database: str, now: datetime, why: str) -> Notice | None:
    incidents = models.AlertIncident.objects.using(database).filter(
        pk=row.pk, resolved_at__isnull=True
    )
    if row.opened_at is None:
        incidents.filter(opened_at__isnull=True).delete()  # pending: it never paged anyone
        return None
    if not incidents.update(resolved_at=now, detail=why):
        return None
    row.resolved_at, row.detail = now, why
    logger.info(
        "alert %s resolved: %s",
        row,
        why,
        extra={"action": "alert_resolved", "rule": row.rule, "subject": row.subject},
    )
    return Notice(incident=row, resolved=True)


def _insert(row: models.AlertIncident, database: str) -> bool:
    try:
        with transaction.atomic(using=database):
            row.save(using=database, force_insert=True)
    except IntegrityError:
        return False  # another evaluator saw it first: its incident
    return True


def evaluate_rule(rule: Rule, options: Options, backend: str, now: datetime) -> list[Notice]:
    """Move ``rule``'s incidents to what it sees at ``now``; return the notices to send."""
    database = options.database
    breaches = {
        breach.subject: breach for breach in conditions.observe(rule, options, backend, now)
    }
    notices: list[Notice | None] = []
    active = {row.subject: row for row in _unresolved(database, backend).filter(rule=rule.name)}
    for subject, row in active.items():
        if subject not in breaches:
            notices.append(_resolve(row, database, now, f"cleared: {row.detail}"))
    for subject, breach in breaches.items():
        row = active.get(subject) or models.AlertIncident(
            backend=backend, rule=rule.name, when=rule.when, subject=subject, breached_since=now
        )
        row.detail, row.value = breach.detail, breach.value
        is_new = row.pk is None
        if is_new and not _insert(row, database):
            continue
        if row.opened_at is None and now - row.breached_since >= rule.hold_for:
            notices.append(_open(row, database, now))
        elif not is_new:
            models.AlertIncident.objects.using(database).filter(pk=row.pk).update(
                detail=breach.detail, value=breach.value
            )
    return [notice for notice in notices if notice is not None]


def resolve_unconfigured(
    settings: AlertSettings, options: Options, backend: str, now: datetime
) -> list[Notice]:
    """Resolve the incidents of rules no longer in ``OPTIONS["ALERTS"]``."""
    names = [rule.name for rule in settings.rules]
    stale = _unresolved(options.database, backend).exclude(rule__in=names)
    found = [_resolve(row, options.database, now, "its rule was removed") for row in stale]
    return [notice for notice in found if notice is not None]


def evaluate(
    options: Options,
    backend: str = "default",
    *,
    holder: str = "",
    now: datetime | None = None,
    take_turn: bool = True,
) -> list[Notice] | None:
    """Evaluate every rule of ``OPTIONS["ALERTS"]`` if this caller gets the turn.

    Returns the notices (incidents opened or resolved) for
    ``delivery.deliver``, or None when another evaluator has the turn.
    ``take_turn=False`` evaluates regardless (an operator's own call).
    """
    settings = options.alerts
    if settings is None:
        return []
    every = settings.every.total_seconds()
    if take_turn and not turns.take_turn(
        models.AlertTurn, options.database, backend, holder, every
    ):
        return None
    now = now or timezone.now()
    notices = resolve_unconfigured(settings, options, backend, now)
    for rule in settings.rules:
        notices += evaluate_rule(rule, options, backend, now)
    return notices


def open_incidents(database: str, backend: str) -> Sequence[models.AlertIncident]:
    """The open incidents of ``backend``, oldest first (health, ``taskflow health``)."""
    return list(
        _unresolved(database, backend).filter(opened_at__isnull=False).order_by("opened_at")
    )
