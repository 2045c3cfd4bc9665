"""A service's restart budget in its row: count a failure, mark it failed once spent.

The failure times live in the row (``restart_times``), not in the host, so
that the count goes on across takeovers: a service that fails on one
worker, then on the next, is failed after ``max_restarts`` in all.
Writes are guarded by the owner, so that a host that lost the service
never marks it for the new owner.
"""

from __future__ import annotations

import logging
from typing import Any

from django.utils import timezone

from django_taskflow import models
from django_taskflow.models import MessageState, ServiceState
from django_taskflow.services import failures, log
from django_taskflow.services.definition import ServiceDefinition

logger = logging.getLogger(__name__)

LIVE_STATES = (ServiceState.RUNNING, ServiceState.STOPPING)


def _failed_changes() -> dict[str, Any]:
    return {
        "state": ServiceState.FAILED,
        "owner": "",
        "lease_expires_at": None,
        "stopped_at": timezone.now(),
    }


def spend(
    database: str, name: str, owner: str, definition: ServiceDefinition, error: dict[str, Any]
) -> bool:
    """Count one failure (``error``, as ``failures`` stores it); True once the budget is spent.

    Then the service is marked failed, with ``error`` kept among its errors.
    """
    services = models.Service.objects.using(database).filter(name=name)
    row = services.first()
    if row is None:
        return True
    times = failures.restart_times(
        row.restart_times, timezone.now(), definition.restart_window_seconds
    )
    errors = failures.kept_errors(row.errors, error)
    text = f"{error['error_class']}: {error['message']}"
    handler = error["handler"]
    if len(times) < definition.max_restarts:
        services.update(restart_times=times, restarts=len(times), errors=errors)
        log.record(
            database,
            name,
            log.ServiceEventKind.ERROR,
            owner=owner,
            data={"handler": handler, "error": text, "restarts": len(times)},
        )
        return False
    failed = services.filter(owner=owner, state__in=LIVE_STATES).update(
        restart_times=times, restarts=len(times), errors=errors, **_failed_changes()
    )
    if failed:
        log.record(
            database,
            name,
            log.ServiceEventKind.FAILED,
            owner=owner,
            data={"handler": handler, "error": text},
        )
        logger.error(
            "service %s failed %d times within %g s; it is marked failed",
            name,
            len(times),
            definition.restart_window_seconds,
            extra={"action": "service_failed", "service": name},
        )
    return True


def fail_for_good(database: str, row: models.Service, owner: str, error: dict[str, Any]) -> None:
    """Mark the service failed at once (its class cannot be imported): no restart would help."""
    models.Service.objects.using(database).filter(name=row.name, owner=owner).update(
        errors=failures.kept_errors(row.errors, error), **_failed_changes()
    )
    log.record(
        database,
        row.name,
        log.ServiceEventKind.FAILED,
        owner=owner,
        data={"handler": error["handler"], "error": error["message"]},
    )


def owner_lost(database: str, row: models.Service, previous_owner: str) -> dict[str, Any] | None:
    """The failure to count for a takeover from ``previous_owner``, or None if none counts.

    The previous owner stopped renewing its lease while it ran the service,
    which is what a handler that kills its process does (a crash, the OOM
    killer): counted, such a service ends ``failed`` instead of killing
    worker after worker. Not counted: a stop under way, and a message in
    flight, whose own deliveries are counted (``max_deliveries``) so that
    it is set aside and the service goes on.
    """
    if not previous_owner or row.state != ServiceState.RUNNING:
        return None
    pending = models.ServiceMessage.objects.using(database).filter(
        service_id=row.name, state=MessageState.PENDING
    )
    oldest = pending.order_by("id").first()
    if oldest is not None and oldest.deliveries > 0:
        return None
    return failures.owner_lost_entry(previous_owner, timezone.now())
