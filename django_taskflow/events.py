"""Events: what happened to tasks, recorded, announced and streamed.

Every event is an ``Event`` row written in the same transaction as the
change it describes (the worker's recorder batches them with attempt
outcomes), then announced with the matching signal in ``signals.py``. Hooks
(``hooks.py``) are receivers of those signals. ``stream()`` reads the rows
forward from an id, so a view, a script or a test can follow tasks from any
process, synchronously or with ``async for``.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import AsyncIterator, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from typing import Any

from asgiref.sync import sync_to_async
from django.db import transaction
from django.utils import timezone

from django_taskflow import models, signals
from django_taskflow.models import EventKind

logger = logging.getLogger(__name__)

KIND_SIGNALS = {
    EventKind.STARTED: signals.task_running,
    EventKind.PROGRESS: signals.task_progress,
    EventKind.SOFT_TIMEOUT: signals.task_soft_timeout,
    EventKind.RETRYING: signals.task_retrying,
    EventKind.SUCCEEDED: signals.task_succeeded,
    EventKind.FAILED: signals.task_failed,
    EventKind.CANCELLED: signals.task_cancelled,
}

KIND_STATUS = {
    EventKind.STARTED: "running",
    EventKind.PROGRESS: "running",
    EventKind.SOFT_TIMEOUT: "running",
    EventKind.RETRYING: "queued",
    EventKind.SUCCEEDED: "succeeded",
    EventKind.FAILED: "failed",
    EventKind.CANCELLED: "cancelled",
}


@dataclass(frozen=True, slots=True, kw_only=True)
class AttemptError:
    """The error of one attempt: an exception, or a value a validator rejected."""

    attempt: int
    error_class: str
    message: str
    value: Any = None

    def __str__(self) -> str:
        return f"{self.error_class}: {self.message}" if self.message else self.error_class


@dataclass(frozen=True, kw_only=True)
class TaskEvent:
    """One thing that happened to a task.

    ``errors`` lists the error of every attempt up to this one (loaded on
    first use); ``is_failure`` is True only for a final failure.
    """

    id: int | None
    task_id: str
    task_name: str
    key: str | None
    tags: Sequence[str]
    kind: EventKind
    attempt: int
    created_at: datetime
    data: dict[str, Any] = field(default_factory=dict)
    result: Any = None
    database: str = "default"

    @property
    def status(self) -> str:
        """The task's status right after this event."""
        return KIND_STATUS[self.kind]

    @property
    def is_failure(self) -> bool:
        return self.kind == EventKind.FAILED

    @property
    def progress(self) -> float | None:
        return self.data.get("progress")

    @property
    def error(self) -> AttemptError | None:
        """This attempt's error, for ``retrying`` and ``failed`` events."""
        if "error_class" not in self.data:
            return None
        return AttemptError(
            attempt=self.attempt,
            error_class=self.data["error_class"],
            message=self.data.get("error_message", ""),
            value=self.data.get("error_value"),
        )

    @cached_property
    def errors(self) -> list[AttemptError]:
        attempts = models.Attempt.objects.using(self.database).filter(
            task_id=self.task_id, number__lte=self.attempt
        )
        return [
            AttemptError(
                attempt=a.number,
                error_class=a.error_class,
                message=a.error_message,
                value=a.error_value,
            )
            for a in attempts.exclude(error_class="").order_by("number")
        ]


def from_row(event: models.Event, database: str) -> TaskEvent:
    task = event.task
    return TaskEvent(
        id=event.pk,
        task_id=str(task.pk),
        task_name=task.task_path,
        key=task.key,
        tags=task.tags,
        kind=EventKind(event.kind),
        attempt=event.attempt,
        created_at=event.created_at,
        data=event.data,
        result=task.result if event.kind == EventKind.SUCCEEDED else None,
        database=database,
    )


def publish(events: Iterable[TaskEvent]) -> None:
    """Send each event's signal (call after the events are committed)."""
    for event in events:
        signals.send_from_worker(KIND_SIGNALS[event.kind], TaskEvent, event=event)


def record_event(
    task: models.Task,
    kind: EventKind,
    *,
    attempt: int | None = None,
    data: dict[str, Any] | None = None,
    database: str = "default",
    now: datetime | None = None,
) -> TaskEvent:
    """Write one Event row and announce it after commit.

    The single way to record an event outside the worker's batched path.
    """
    row = models.Event.objects.using(database).create(
        task=task,
        kind=kind,
        attempt=task.attempts if attempt is None else attempt,
        data=data or {},
        created_at=now or timezone.now(),
    )
    event = from_row(row, database)
    transaction.on_commit(lambda: publish([event]), using=database)
    return event


# -- reading ------------------------------------------------------------------

_PAGE = 200


@dataclass(kw_only=True)
class EventStream:
    """Events in the order they were recorded, filtered; iterate with ``for`` or ``async for``.

    Starts after event id ``after`` (``None``: only events recorded from now
    on; ``0``: from the first). With ``follow=False`` it ends once it has
    caught up; otherwise it waits for more, until ``timeout`` seconds pass
    (``None``: forever).
    """

    task: Sequence[str] | None = None
    key: str | None = None
    tags: Sequence[str] | None = None
    kinds: Sequence[str] | None = None
    after: int | None = None
    follow: bool = True
    timeout: float | None = None
    poll_interval: float = 0.1
    database: str = "default"

    def _start(self) -> int:
        if self.after is not None:
            return self.after
        latest = models.Event.objects.using(self.database).order_by("-id").first()
        return latest.pk if latest else 0

    def _page(self, cursor: _Cursor) -> list[TaskEvent]:
        """The next events after ``cursor``, and any that filled one of its gaps."""
        events = models.Event.objects.using(self.database)
        ids = list(
            events.filter(pk__gt=cursor.position)
            .order_by("pk")
            .values_list("pk", flat=True)[:_PAGE]
        )
        cursor.advance(ids)
        wanted_ids = [*ids, *cursor.gaps]
        if not wanted_ids:
            return []
        rows = events.select_related("task").filter(pk__in=wanted_ids)
        if self.task is not None:
            rows = rows.filter(task_id__in=[uuid.UUID(str(t)) for t in self.task])
        if self.key is not None:
            rows = rows.filter(task__key=self.key)
        if self.kinds is not None:
            rows = rows.filter(kind__in=list(self.kinds))
        page = list(rows.order_by("pk"))
        cursor.filled({row.pk for row in page})
        wanted = set(self.tags or ())
        return [
            from_row(row, self.database)
            for row in page
            if not wanted or wanted.issubset(row.task.tags or ())
        ]

    def __iter__(self) -> Iterator[TaskEvent]:
        deadline = None if self.timeout is None else time.monotonic() + self.timeout
        cursor = _Cursor(self._start())
        while True:
            events = self._page(cursor)
            yield from events
            if events or cursor.has_more:
                continue
            if not self.follow or (deadline is not None and time.monotonic() >= deadline):
                return
            time.sleep(self.poll_interval)

    async def __aiter__(self) -> AsyncIterator[TaskEvent]:
        deadline = None if self.timeout is None else time.monotonic() + self.timeout
        cursor = _Cursor(await sync_to_async(self._start, thread_sensitive=True)())
        while True:
            events = await sync_to_async(self._page, thread_sensitive=True)(cursor)
            for event in events:
                yield event
            if events or cursor.has_more:
                continue
            if not self.follow or (deadline is not None and time.monotonic() >= deadline):
                return
            await asyncio.sleep(self.poll_interval)


# How long a missing id is watched for: ids are drawn when a row is inserted
# but become visible when its transaction commits, so on PostgreSQL a lower
# id can appear after a higher one. A gap still empty after this long was a
# rolled-back insert. Recorder transactions last milliseconds.
GAP_SECONDS = 10.0


class _Cursor:
    """Where a stream has read up to, and the ids below it not seen yet."""

    def __init__(self, position: int) -> None:
        self.position = position
        self.gaps: dict[int, float] = {}
        self.has_more = False

    def advance(self, ids: list[int]) -> None:
        now = time.monotonic()
        self.gaps = {gap: since for gap, since in self.gaps.items() if now - since < GAP_SECONDS}
        self.has_more = len(ids) == _PAGE
        if not ids:
            return
        # Ids missing between the old position and the page's end; a leading
        # run longer than a page is old history that was deleted, not a gap.
        start = self.position + 1 if ids[0] - self.position <= _PAGE else ids[0]
        seen = set(ids)
        for missing in range(start, ids[-1]):
            if missing not in seen:
                self.gaps.setdefault(missing, now)
        self.position = ids[-1]

    def filled(self, ids: set[int]) -> None:
        for found in ids:
            self.gaps.pop(found, None)


def _as_ids(task: str | Sequence[str] | None) -> Sequence[str] | None:
    if task is None or (isinstance(task, Sequence) and not isinstance(task, str)):
        return task
    return [str(task)]


def stream(
    *,
    task: str | Sequence[str] | None = None,
    key: str | None = None,
    tags: Sequence[str] | None = None,
    kinds: Sequence[str] | None = None,
    after: int | None = None,
    follow: bool = True,
    timeout: float | None = None,
    database: str = "default",
) -> EventStream:
    """Follow events, filtered by task id(s), key, tags (all of them) and kinds."""
    return EventStream(
        task=_as_ids(task),
        key=key,
        tags=tags,
        kinds=kinds,
        after=after,
        follow=follow,
        timeout=timeout,
        database=database,
    )


def results(**filters: Any) -> EventStream:
    """Successful results only (``succeeded`` events); takes ``stream()``'s filters."""
    return stream(kinds=[EventKind.SUCCEEDED], **filters)


def errors(**filters: Any) -> EventStream:
    """Every error, including those followed by a retry (``retrying`` and ``failed``)."""
    return stream(kinds=[EventKind.RETRYING, EventKind.FAILED], **filters)


def failures(**filters: Any) -> EventStream:
    """Final failures only (``failed`` events)."""
    return stream(kinds=[EventKind.FAILED], **filters)
