"""Reading an append-only log forward by id: the task event log and the services' event log.

Both logs are written by transactions that take their transaction id
before they draw an event id, so ``stream_cursor``'s rule holds for both:
a stream sees each committed row above its start exactly once, even one
that commits after rows with higher ids. ``LogStream`` is what their
streams share: opening a cursor, reading the commit horizon, the two ways
of reading (the whole log by id, or one key's rows through its index), and
iterating with ``for`` or ``async for``.
"""

from __future__ import annotations

import abc
import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

from asgiref.sync import sync_to_async
from django.db import connections
from django.db.models import Model, Q, QuerySet

from django_taskflow.db import dialect_for
from django_taskflow.stream_cursor import StreamCursor

PAGE = 200


def open_cursor(rows: QuerySet[Any], after: int | None, database: str) -> StreamCursor:
    """A cursor after id ``after`` (``None``: after the newest row of ``rows``)."""
    position = after
    if position is None:
        latest = rows.order_by("-pk").values_list("pk", flat=True).first()
        position = latest or 0
    in_id_order = dialect_for(database).COMMITS_IN_ID_ORDER
    return StreamCursor(position, watches_late_commits=not in_id_order)


def read_horizon(cursor: StreamCursor, database: str) -> None:
    """Give the cursor the database's commit horizon, unless it has nothing to settle."""
    if cursor.is_settled:
        return
    connection = connections[database]
    # Inside a transaction the horizon cannot be read safely (see
    # ``commit_horizon``): the stream keeps watching what it skipped.
    if not connection.get_autocommit():
        return
    with connection.cursor() as db_cursor:
        cursor.horizon(*dialect_for(database).commit_horizon(db_cursor))


def next_log_ids(rows: QuerySet[Any], cursor: StreamCursor) -> list[int]:
    """The ids of the next rows of the whole log: above the position, and in its holes."""
    forward = list(
        rows.filter(pk__gt=cursor.position).order_by("pk").values_list("pk", flat=True)[:PAGE]
    )
    # The holes are read second: a transaction that commits between the two
    # reads then shows its lower ids now and its higher ids at the next read,
    # never the other way round, so a task's events stay in order.
    late: list[int] = []
    if cursor.holes:
        in_holes = Q()
        for low, high in cursor.holes:
            in_holes |= Q(pk__range=(low, high))
        late = list(rows.filter(in_holes).values_list("pk", flat=True))
    cursor.read_log(late, forward, truncated=len(forward) == PAGE)
    return [*late, *forward]


def next_keyed_rows[M: Model](rows: QuerySet[M], cursor: StreamCursor) -> list[M]:
    """The next rows of one key (``rows`` is filtered to it), through its ``(key, id)`` index."""
    rows = rows.filter(pk__gt=cursor.floor)
    if cursor.seen:
        rows = rows.exclude(pk__in=cursor.seen)
    page = list(rows.order_by("pk")[:PAGE])
    cursor.read_task([row.pk for row in page], truncated=len(page) == PAGE)
    return page


@dataclass(kw_only=True)
class LogStream[T](abc.ABC):
    """Rows of a log in order; subclasses give ``start()`` and ``read()``.

    With ``follow=False`` it ends once caught up; otherwise it waits for
    more until ``timeout`` seconds pass (``None``: forever).
    """

    after: int | None = None
    follow: bool = True
    timeout: float | None = None
    poll_interval: float = 0.1
    database: str = "default"

    @abc.abstractmethod
    def start(self) -> StreamCursor: ...

    @abc.abstractmethod
    def read(self, cursor: StreamCursor) -> list[T]: ...

    def __iter__(self) -> Iterator[T]:
        deadline = None if self.timeout is None else time.monotonic() + self.timeout
        cursor = self.start()
        while True:
            items = self.read(cursor)
            yield from items
            if items or cursor.has_more:
                continue
            if not self.follow or (deadline is not None and time.monotonic() >= deadline):
                return
            time.sleep(self.poll_interval)

    async def __aiter__(self) -> AsyncIterator[T]:
        deadline = None if self.timeout is None else time.monotonic() + self.timeout
        cursor = await sync_to_async(self.start, thread_sensitive=True)()
        while True:
            items = await sync_to_async(self.read, thread_sensitive=True)(cursor)
            for item in items:
                yield item
            if items or cursor.has_more:
                continue
            if not self.follow or (deadline is not None and time.monotonic() >= deadline):
                return
            await asyncio.sleep(self.poll_interval)
