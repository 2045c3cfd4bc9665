"""Retention for services: old service events, old dead messages, services stopped long ago.

Without it a running service's event log would grow as long as it runs,
and services started one per ride or device would pile up once stopped.
``retention`` prunes them after tasks and flows, by the prune's oldest
cutoff (with ``OPTIONS["RETENTION"]``, the longest kept status's): no
service row goes while a finished task of its age is kept. Pending
messages are never pruned: they wait for their service. Like tasks, in
short chunks; the service steps run only for the backend whose database
holds the services.

A chunk of events or dead messages is the oldest rows by id, of which
those older than the cutoff go: ids grow with time, so a chunk that is
not wholly old ends the step without scanning the young rows.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db import transaction

from django_taskflow import models
from django_taskflow.models import MessageState, ServiceState

ENDED_STATES = (ServiceState.STOPPED, ServiceState.FAILED)


def _events(database: str) -> Any:
    return models.ServiceEvent.objects.using(database)


def _dead(database: str) -> Any:
    return models.ServiceMessage.objects.using(database).filter(state=MessageState.DEAD)


def _ended(database: str, before: datetime) -> Any:
    return models.Service.objects.using(database).filter(
        state__in=ENDED_STATES, stopped_at__lt=before
    )


def _oldest_chunk(rows: Any, before: datetime, chunk_size: int) -> int:
    oldest = rows.order_by("id").values("id")[:chunk_size]
    deleted, _by_model = rows.filter(id__in=oldest, created_at__lt=before).delete()
    return int(deleted)


def prune_events_chunk(database: str, before: datetime, chunk_size: int) -> int:
    """Delete up to ``chunk_size`` service events recorded before ``before``."""
    return _oldest_chunk(_events(database), before, chunk_size)


def prune_dead_messages_chunk(database: str, before: datetime, chunk_size: int) -> int:
    """Delete up to ``chunk_size`` dead messages sent before ``before``."""
    return _oldest_chunk(_dead(database), before, chunk_size)


def prune_services_chunk(database: str, before: datetime, chunk_size: int) -> int:
    """Delete up to ``chunk_size`` services stopped or failed before ``before``, with their rows.

    The rows are locked first: a ``services.start()`` of the same name
    either restarted it before (then it is running and stays) or waits and
    creates it afresh.
    """
    with transaction.atomic(using=database):
        names = list(
            _ended(database, before)
            .select_for_update(skip_locked=True)
            .order_by("stopped_at")
            .values_list("name", flat=True)[:chunk_size]
        )
        if not names:
            return 0
        models.ServiceMessage.objects.using(database).filter(service_id__in=names).delete()
        _events(database).filter(service_id__in=names).delete()
        deleted, _by_model = _ended(database, before).filter(name__in=names).delete()
    return int(deleted)


def count_prunable(database: str, before: datetime) -> dict[str, int]:
    """What a prune by ``before`` would delete (``dry_run``).

    Services stopped or failed before it, events recorded and dead messages
    sent before it (a service's younger rows go with it, uncounted).
    """
    return {
        "services": _ended(database, before).count(),
        "service_events": _events(database).filter(created_at__lt=before).count(),
        "service_messages": _dead(database).filter(created_at__lt=before).count(),
    }
