"""Service events: recorded as ``ServiceEvent`` rows, announced, and streamed by name.

``record()`` writes one row and sends ``signals.service_event`` after
commit. ``ServiceEventStream`` reads a service's rows forward by id. A
service's events are written by one owner at a time, each in its own
autocommit write, so they commit in id order.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from asgiref.sync import sync_to_async
from django.db import transaction
from django.utils import timezone

from django_taskflow import models, signals


class ServiceEventKind:
    """What a service did (the ``kind`` of its events)."""

    STARTED = "started"
    TAKEN_OVER = "taken_over"
    EMITTED = "emitted"
    ERROR = "error"
    MESSAGE_DEAD = "message_dead"
    FAILED = "failed"
    STOPPED = "stopped"


@dataclass(frozen=True, kw_only=True)
class ServiceEventRecord:
    """One thing a service did; ``data`` is what ``context.emit()`` gave, for ``emitted``."""

    id: int
    service: str
    kind: str
    owner: str
    created_at: datetime
    data: dict[str, Any] = field(default_factory=dict)


def _from_row(row: models.ServiceEvent) -> ServiceEventRecord:
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
    """Write one service event and announce it once committed."""
    row = models.ServiceEvent.objects.using(database).create(
        service_id=service, kind=kind, owner=owner, data=data or {}, created_at=timezone.now()
    )
    event = _from_row(row)
    transaction.on_commit(
        lambda: signals.send_from_worker(signals.service_event, ServiceEventRecord, event=event),
        using=database,
    )
    return event


_PAGE = 200


@dataclass(kw_only=True)
class ServiceEventStream:
    """A service's events in order; iterate with ``for`` or ``async for``.

    Starts after event id ``after`` (``None``: only events recorded from
    now on; ``0``: from the first). With ``follow=False`` it ends once
    caught up; otherwise it waits for more until ``timeout`` seconds pass
    (``None``: forever).
    """

    service: str
    kinds: Sequence[str] | None = None
    after: int | None = None
    follow: bool = True
    timeout: float | None = None
    poll_interval: float = 0.1
    database: str = "default"

    def _start(self) -> int:
        if self.after is not None:
            return self.after
        latest = (
            models.ServiceEvent.objects.using(self.database)
            .filter(service_id=self.service)
            .order_by("-id")
            .values_list("id", flat=True)
            .first()
        )
        return latest or 0

    def _poll(self, position: int) -> list[ServiceEventRecord]:
        rows = models.ServiceEvent.objects.using(self.database).filter(
            service_id=self.service, pk__gt=position
        )
        if self.kinds is not None:
            rows = rows.filter(kind__in=list(self.kinds))
        return [_from_row(row) for row in rows.order_by("pk")[:_PAGE]]

    def __iter__(self) -> Iterator[ServiceEventRecord]:
        deadline = None if self.timeout is None else time.monotonic() + self.timeout
        position = self._start()
        while True:
            events = self._poll(position)
            yield from events
            if events:
                position = events[-1].id
                continue
            if not self.follow or (deadline is not None and time.monotonic() >= deadline):
                return
            time.sleep(self.poll_interval)

    async def __aiter__(self) -> AsyncIterator[ServiceEventRecord]:
        deadline = None if self.timeout is None else time.monotonic() + self.timeout
        position = await sync_to_async(self._start, thread_sensitive=True)()
        while True:
            events = await sync_to_async(self._poll, thread_sensitive=True)(position)
            for event in events:
                yield event
            if events:
                position = events[-1].id
                continue
            if not self.follow or (deadline is not None and time.monotonic() >= deadline):
                return
            await asyncio.sleep(self.poll_interval)
