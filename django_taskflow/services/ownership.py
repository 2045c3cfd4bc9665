"""Who owns a service: claim, renew and release its lease, by the database's clock.

Each write is one guarded UPDATE: a service is claimed only while it has
no owner or its owner's lease has expired, so of two hosts that try at
once exactly one wins; a lease is renewed only by its owner.
"""

from __future__ import annotations

import logging
from collections.abc import Collection

from django.db import transaction
from django.db.models import Q
from django.db.models.functions import Now

from django_taskflow import models
from django_taskflow.db import LeaseUntil
from django_taskflow.models import ServiceState
from django_taskflow.services import log

logger = logging.getLogger(__name__)

LIVE_STATES = (ServiceState.RUNNING, ServiceState.STOPPING)


def _free() -> Q:
    return Q(owner="") | Q(lease_expires_at__isnull=True) | Q(lease_expires_at__lt=Now())


def any_live(database: str) -> bool:
    """Whether any service is running or stopping (one cheap query)."""
    return models.Service.objects.using(database).filter(state__in=LIVE_STATES).exists()


def claim(database: str, owner: str, *, limit: int, lease_seconds: float) -> dict[str, str]:
    """Take up to ``limit`` live services that have no owner with a lease.

    Returns each name taken with its previous owner: ``""`` for a service
    started or let go (``release``), else the owner whose lease expired
    (or was expired, ``expire``), which records ``taken_over``.
    """
    if limit < 1:
        return {}
    services = models.Service.objects.using(database)
    candidates = list(
        services.filter(_free(), state__in=LIVE_STATES)
        .order_by("created_at")
        .values_list("name", "owner")[:limit]
    )
    won = {}
    for name, previous in candidates:
        with transaction.atomic(using=database):
            taken = services.filter(_free(), name=name, owner=previous).update(
                owner=owner, lease_expires_at=LeaseUntil(lease_seconds)
            )
            if not taken:
                continue  # another host was quicker: a normal outcome
            if previous and previous != owner:
                log.record(
                    database,
                    name,
                    log.ServiceEventKind.TAKEN_OVER,
                    owner=owner,
                    data={"previous_owner": previous},
                )
        logger.info(
            "service %s taken by %s%s",
            name,
            owner,
            f" from {previous}" if previous else "",
            extra={"action": "service_claimed", "service": name, "worker_id": owner},
        )
        won[name] = "" if previous == owner else previous
    return won


def renew(database: str, owner: str, names: Collection[str], lease_seconds: float) -> set[str]:
    """Extend the leases this owner still holds; return the names it still owns."""
    if not names:
        return set()
    services = models.Service.objects.using(database).filter(name__in=list(names), owner=owner)
    services.update(lease_expires_at=LeaseUntil(lease_seconds))
    return set(services.values_list("name", flat=True))


def stopping(database: str, names: Collection[str]) -> set[str]:
    """Which of ``names`` were asked to stop (``services.stop()``): the host tells their
    runners, which cannot look while a handler runs."""
    if not names:
        return set()
    services = models.Service.objects.using(database).filter(
        name__in=list(names), state=ServiceState.STOPPING
    )
    return set(services.values_list("name", flat=True))


def expire(database: str, owner: str, names: Collection[str] | None = None) -> int:
    """End the leases ``owner`` holds (``names``; None: all) now: it is gone, or will be.

    Unlike ``release``, the owner stays recorded, so that the host that
    claims the service next records ``taken_over``: an owner that died is
    taken over at once instead of when its lease would have ended.
    """
    services = models.Service.objects.using(database).filter(owner=owner, state__in=LIVE_STATES)
    if names is not None:
        services = services.filter(name__in=list(names))
    return services.update(lease_expires_at=LeaseUntil(-1))


def release(database: str, owner: str, names: Collection[str]) -> int:
    """Give up services this owner holds, so that another host takes them at once."""
    if not names:
        return 0
    return (
        models.Service.objects.using(database)
        .filter(name__in=list(names), owner=owner)
        .update(owner="", lease_expires_at=None)
    )
