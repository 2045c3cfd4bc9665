"""Events: what happened to tasks, recorded, announced and streamed.

Every event is an ``Event`` row written in the same transaction as the
change it describes (the worker's recorder batches them with attempt
outcomes), then announced with the matching signal in ``signals.py``. Hooks
(``hooks.py``) are receivers of those signals. ``stream()`` reads the rows
forward from an id, so a view, a script or a test can follow tasks from any
process, synchronously or with ``async for``; ``stream_cursor.py`` holds the
rule that makes it see each committed event exactly once.
"""

from __future__ import annotations

import dataclasses
import logging
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from typing import Any, overload

from django.db import connections, transaction
from django.db.models import QuerySet
from django.utils import timezone

from django_taskflow import event_payload, log_reading, models, signals
from django_taskflow.db import dialect_for
from django_taskflow.encoding import fields as sealed_fields
from django_taskflow.encoding import stored as stored_encoding
from django_taskflow.event_payload import (
    AttemptError as AttemptError,  # where it was defined before
)
from django_taskflow.live import outbox
from django_taskflow.log_reading import LogStream
from django_taskflow.models import EventKind
from django_taskflow.services.log import ServiceEventStream
from django_taskflow.stream_cursor import StreamCursor

logger = logging.getLogger(__name__)

KIND_SIGNALS = {
    EventKind.STARTED: signals.task_running,
    EventKind.PROGRESS: signals.task_progress,
    EventKind.SOFT_TIMEOUT: signals.task_soft_timeout,
    EventKind.RETRYING: signals.task_retrying,
    EventKind.SUCCEEDED: signals.task_succeeded,
    EventKind.FAILED: signals.task_failed,
    EventKind.CANCELLED: signals.task_cancelled,
    EventKind.RETRIED: signals.task_requeued,
    EventKind.REQUEUED: signals.task_requeued,
    EventKind.KEY_MISSING: signals.task_key_missing,
}

KIND_STATUS = {
    EventKind.STARTED: "running",
    EventKind.PROGRESS: "running",
    EventKind.SOFT_TIMEOUT: "running",
    EventKind.RETRYING: "queued",
    EventKind.SUCCEEDED: "succeeded",
    EventKind.FAILED: "failed",
    EventKind.CANCELLED: "cancelled",
    EventKind.RETRIED: "queued",
    EventKind.REQUEUED: "queued",
    EventKind.KEY_MISSING: "queued",
}


@dataclass(frozen=True, kw_only=True)
class TaskEvent:
    """One thing that happened to a task.

    ``errors`` lists the error of every attempt up to this one (loaded on
    first use); ``is_failure`` is True only for a final failure.

    An encrypted task's event holds its payload as stored: the progress
    detail and error texts sealed, the result the stored ciphertext, the
    progress message ``"[encrypted]"``. :meth:`reveal` gives a copy with
    them decrypted by this process's keys, for a receiver that needs them.
    Its string forms (``str()``, ``repr()``, and those of ``error`` and
    ``errors``) show ``[encrypted]`` in their place, revealed or not, so
    that a log line or an error tracker never gets them.
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
    # The task's ``encoding`` column and backend: how to read its payload.
    encoding: str | None = None
    backend: str = "default"
    # True for the copy reveal() made: its payload is no longer sealed.
    revealed: bool = field(default=False, repr=False)

    @property
    def is_encrypted(self) -> bool:
        """Whether the task's payloads are stored encrypted (its string forms then hide them)."""
        return self.encoding is not None and stored_encoding.read(self.encoding).key_id is not None

    def reveal(self) -> TaskEvent:
        """This event with its task's encoded payloads decoded (decrypted) by this process.

        For a receiver that needs the progress detail, message, error texts
        or result of an encrypted task; what this process cannot decode (a
        key it lacks) shows why instead. The copy's string forms stay
        redacted. Plain tasks' events are returned as they are.
        """
        return event_payload.revealed(self)

    def __repr__(self) -> str:
        shown: dict[str, Any] = {
            f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.repr
        }
        if self.is_encrypted:
            shown["data"] = event_payload.redacted_data(self)
            if self.result is not None:
                shown["result"] = sealed_fields.REDACTED
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in shown.items())})"

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
            revealed=self.revealed,
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
        encoding=task.encoding,
        backend=task.backend,
    )


def publish(events: Iterable[TaskEvent]) -> None:
    """Send each event's signal, and pass them to live progress (call after the events are committed)."""
    events = list(events)
    for event in events:
        signals.send_from_worker(KIND_SIGNALS[event.kind], TaskEvent, event=event)
    outbox.publish(events)


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
    with transaction.atomic(using=database, savepoint=False):
        # Streams rely on the transaction having its id before the event's
        # id is drawn (see ``stream_cursor``).
        with connections[database].cursor() as cursor:
            dialect_for(database).assign_transaction_id(cursor)
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


@dataclass(kw_only=True)
class EventStream(LogStream[TaskEvent]):
    """Events in the order they were recorded, filtered; iterate with ``for`` or ``async for``.

    Starts after event id ``after`` (``None``: only events recorded from now
    on; ``0``: from the first). With ``follow=False`` it ends once it has
    caught up; otherwise it waits for more, until ``timeout`` seconds pass
    (``None``: forever). It yields every committed event above ``after``
    exactly once, even one that commits after events with higher ids (see
    ``stream_cursor``). With ``task`` it reads through the ``(task, id)``
    index, so its cost does not grow with the rest of the log.
    """

    task: Sequence[str] | None = None
    key: str | None = None
    tags: Sequence[str] | None = None
    kinds: Sequence[str] | None = None

    def start(self) -> StreamCursor:
        """Open a cursor at ``after``, for a caller that waits between reads itself."""
        return log_reading.open_cursor(
            models.Event.objects.using(self.database), self.after, self.database
        )

    def read(self, cursor: StreamCursor) -> list[TaskEvent]:
        """The next events: those above the position, and any that filled a hole.

        ``cursor.has_more`` then says whether more are ready to read at once.
        """
        log_reading.read_horizon(cursor, self.database)
        rows = self._read_task(cursor) if self.task is not None else self._read_log(cursor)
        wanted = set(self.tags or ())
        return [
            from_row(row, self.database)
            for row in rows
            if not wanted or wanted.issubset(row.task.tags or ())
        ]

    def _filtered(self, rows: QuerySet[models.Event]) -> QuerySet[models.Event]:
        if self.key is not None:
            rows = rows.filter(task__key=self.key)
        if self.kinds is not None:
            rows = rows.filter(kind__in=list(self.kinds))
        return rows

    def _read_log(self, cursor: StreamCursor) -> list[models.Event]:
        """Read the log forward by id, and the holes it left behind."""
        events = models.Event.objects.using(self.database)
        ids = log_reading.next_log_ids(events, cursor)
        if not ids:
            return []
        rows = events.select_related("task").filter(pk__in=ids)
        return list(self._filtered(rows).order_by("pk"))

    def _read_task(self, cursor: StreamCursor) -> list[models.Event]:
        """Read the given tasks' events through the ``(task, id)`` index."""
        task_ids = [uuid.UUID(str(task_id)) for task_id in self.task or ()]
        rows = models.Event.objects.using(self.database).filter(task_id__in=task_ids)
        return log_reading.next_keyed_rows(self._filtered(rows.select_related("task")), cursor)


def _as_ids(task: str | Sequence[str] | None) -> Sequence[str] | None:
    if task is None or (isinstance(task, Sequence) and not isinstance(task, str)):
        return task
    return [str(task)]


@overload
def stream(
    *,
    service: str,
    kinds: Sequence[str] | None = None,
    after: int | None = None,
    follow: bool = True,
    timeout: float | None = None,
    database: str = "default",
) -> ServiceEventStream: ...


@overload
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
) -> EventStream: ...


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
    service: str | None = None,
) -> EventStream | ServiceEventStream:
    """Follow events, filtered by task id(s), key, tags (all of them) and kinds.

    With ``service``, follow that long-running service's events instead
    (``ServiceEventRecord`` items; see ``services.events()``).
    """
    if service is not None:
        return ServiceEventStream(
            service=service,
            kinds=kinds,
            after=after,
            follow=follow,
            timeout=timeout,
            database=database,
        )
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
    selected: EventStream = stream(kinds=[EventKind.SUCCEEDED], **filters)
    return selected


def errors(**filters: Any) -> EventStream:
    """Every error, including those followed by a retry (``retrying`` and ``failed``)."""
    selected: EventStream = stream(kinds=[EventKind.RETRYING, EventKind.FAILED], **filters)
    return selected


def failures(**filters: Any) -> EventStream:
    """Final failures only (``failed`` events)."""
    selected: EventStream = stream(kinds=[EventKind.FAILED], **filters)
    return selected
