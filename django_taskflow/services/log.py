"""Service events: recorded as ``ServiceEvent`` rows, announced, and streamed by name.

``record()`` writes one row and, after commit, sends
``signals.service_event`` and a live frame (``live/outbox.py``; without a
channel layer the live relay reads this log). ``ServiceEventStream`` reads
the rows forward by id, one service's or every service's, with the same
cursor as the task event log (``log_reading``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db import connections, transaction
from django.db.models import QuerySet
from django.utils import timezone

from django_taskflow import log_reading, models, signals
from django_taskflow.db import dialect_for
from django_taskflow.live import outbox
from django_taskflow.live.frames import service_frame
from django_taskflow.log_reading import LogStream
from django_taskflow.stream_cursor import StreamCursor


class ServiceEventKind:
    """What a service did (the ``kind`` of its events)."""

    STARTED = "started"
    TAKEN_OVER = "taken_over"
    EMITTED = "emitted"
    ERROR = "error"
    MESSAGE_DEAD = "message_dead"
    FAILED = "failed"
    STOPPED = "stopped"


# The service's state right after an event of each kind (what live frames say).
KIND_STATE = {
    ServiceEventKind.STARTED: "running",
    ServiceEventKind.TAKEN_OVER: "running",
    ServiceEventKind.EMITTED: "running",
    ServiceEventKind.ERROR: "running",
    ServiceEventKind.MESSAGE_DEAD: "running",
    ServiceEventKind.FAILED: "failed",
    ServiceEventKind.STOPPED: "stopped",
}


@dataclass(frozen=True, kw_only=True)
class ServiceEventRecord:
    """One thing a service did; ``data`` is what ``context.emit()`` gave, for ``emitted``."""

    id: int
    service: str
    kind: str
    owner: str
    created_at: datetime
    data: dict[str, Any] = field(default_factory=dict)


def record_of(row: models.ServiceEvent) -> ServiceEventRecord:
    return ServiceEventRecord(
        id=row.pk,
        service=row.service_id,
        kind=row.kind,
        owner=row.owner,
        created_at=row.created_at,
        data=row.data,
    )


def record(
    database: str,
    service: str,
    kind: str,
    *,
    owner: str = "",
    data: dict[str, Any] | None = None,
) -> ServiceEventRecord:
    """Write one service event and announce it once committed (signal and live frame)."""
    with transaction.atomic(using=database, savepoint=False):
        # Streams following every service rely on the transaction having its
        # id before the event's id is drawn (see ``stream_cursor``).
        with connections[database].cursor() as cursor:
            dialect_for(database).assign_transaction_id(cursor)
        row = models.ServiceEvent.objects.using(database).create(
            service_id=service, kind=kind, owner=owner, data=data or {}, created_at=timezone.now()
        )
    event = record_of(row)
    transaction.on_commit(lambda: publish(event), using=database)
    return event


def publish(event: ServiceEventRecord) -> None:
    """Send the ``service_event`` signal and pass the event to live updates (once committed)."""
    signals.send_from_worker(signals.service_event, ServiceEventRecord, event=event)
    outbox.publish_frames([service_frame(event)])


@dataclass(kw_only=True)
class ServiceEventStream(LogStream[ServiceEventRecord]):
    """A service's events in order, or every service's; iterate with ``for`` or ``async for``.

    Starts after event id ``after`` (``None``: only events recorded from
    now on; ``0``: from the first). With ``follow=False`` it ends once
    caught up; otherwise it waits for more until ``timeout`` seconds pass
    (``None``: forever). With ``service=None`` it follows every service
    (the live relay does), reading the whole log by id.
    """

    service: str | None = None
    kinds: Sequence[str] | None = None

    def _rows(self) -> QuerySet[models.ServiceEvent]:
        return models.ServiceEvent.objects.using(self.database)

    def _filtered(self, rows: QuerySet[models.ServiceEvent]) -> QuerySet[models.ServiceEvent]:
        if self.kinds is not None:
            rows = rows.filter(kind__in=list(self.kinds))
        return rows

    def start(self) -> StreamCursor:
        rows = self._rows()
        if self.service is not None:
            rows = rows.filter(service_id=self.service)
        return log_reading.open_cursor(rows, self.after, self.database)

    def read(self, cursor: StreamCursor) -> list[ServiceEventRecord]:
        log_reading.read_horizon(cursor, self.database)
        if self.service is not None:
            rows = self._filtered(self._rows().filter(service_id=self.service))
            return [record_of(row) for row in log_reading.next_keyed_rows(rows, cursor)]
        ids = log_reading.next_log_ids(self._rows(), cursor)
        if not ids:
            return []
        found = self._filtered(self._rows().filter(pk__in=ids)).order_by("pk")
        return [record_of(row) for row in found]
