"""One feed of events per web process, handed to its websocket consumers.

A :class:`Hub` per event loop runs a feed while at least one consumer is
connected, so a web process without live clients costs nothing:

- with a channel layer that crosses processes (``channels_redis``), it is
  a member of ``outbox.EVENTS_GROUP`` and passes on what workers publish;
- otherwise (SQLite or PostgreSQL without Redis: the embedded default) it
  reads the event logs (tasks' and services') forward with
  ``events.stream()``'s cursor, woken by
  ``LISTEN`` on PostgreSQL and by the database file's changes on SQLite,
  and at most every ``MIN_READ_GAP_SECONDS``, so a busy worker costs the
  web process a bounded number of small queries.

Consumers filter and check permissions themselves (``consumer.py``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
import weakref
from typing import Protocol

from channels.db import database_sync_to_async
from django.db import DatabaseError

from django_taskflow import events
from django_taskflow.db import dialect_for
from django_taskflow.live import outbox
from django_taskflow.live.frames import Frame, frame, service_frame
from django_taskflow.services.log import ServiceEventStream

logger = logging.getLogger(__name__)

# The event-log relay reads at most this often (a burst's events share a read) ...
MIN_READ_GAP_SECONDS = 0.025
# ... and at least this often, should a wake-up be missed.
POLL_SECONDS = 1.0
# A failed feed (Redis or the database unreachable) starts again after this.
RESTART_SECONDS = 5.0
# A layer forgets group members after its group expiry (a day by default).
REJOIN_SECONDS = 3600.0


class Member(Protocol):
    """What a hub hands frames to: a consumer."""

    def deliver(self, frames: list[Frame]) -> None:
        """Take frames without blocking."""
        ...


class Hub:
    """The consumers of one event loop and the feed that serves them."""

    def __init__(self, database: str = "default") -> None:
        self.database = database
        self.members: set[Member] = set()
        self.feed: asyncio.Task[None] | None = None
        self.started = asyncio.Event()

    async def join(self, member: Member) -> None:
        """Add ``member``; start the feed for the first one, and wait until it follows."""
        self.members.add(member)
        if self.feed is None or self.feed.done():
            self.started = asyncio.Event()
            self.feed = asyncio.create_task(self._run(), name="taskflow-live-feed")
        await self.started.wait()

    async def leave(self, member: Member) -> None:
        """Remove ``member``; stop the feed when none is left."""
        self.members.discard(member)
        if not self.members and self.feed is not None:
            feed, self.feed = self.feed, None
            feed.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await feed

    def dispatch(self, frames: list[Frame]) -> None:
        for member in list(self.members):
            member.deliver(frames)

    async def _run(self) -> None:
        """Run the feed; after a failure (Redis or the database down), start it again."""
        while True:
            try:
                if outbox.carried_by_channel_layer():
                    await self._follow_group()
                else:
                    await self._relay_event_log()
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception(
                    "the live feed failed; it starts again in %s s",
                    RESTART_SECONDS,
                    extra={"action": "live_feed_failed"},
                )
                self.started.set()  # consumers already waiting go on without it
                await asyncio.sleep(RESTART_SECONDS)

    async def _follow_group(self) -> None:
        layer = outbox.channel_layer()
        channel = await layer.new_channel()
        await layer.group_add(outbox.EVENTS_GROUP, channel)
        rejoined_at = time.monotonic()
        self.started.set()
        try:
            while True:
                message = await layer.receive(channel)
                if message.get("type") == outbox.MESSAGE_TYPE:
                    self.dispatch(message["frames"])
                if time.monotonic() - rejoined_at > REJOIN_SECONDS:
                    await layer.group_add(outbox.EVENTS_GROUP, channel)
                    rejoined_at = time.monotonic()
        finally:
            await asyncio.shield(layer.group_discard(outbox.EVENTS_GROUP, channel))

    async def _relay_event_log(self) -> None:
        log = EventLogs(self.database)
        await database_sync_to_async(log.start)()
        wake = asyncio.Event()
        stop = threading.Event()
        waker = threading.Thread(
            target=_wake_on_commits,
            args=(self.database, stop, asyncio.get_running_loop(), wake),
            name="taskflow-live-waker",
            daemon=True,
        )
        waker.start()
        self.started.set()
        try:
            while True:
                wake.clear()
                read_at = time.monotonic()
                try:
                    batch, has_more = await database_sync_to_async(log.read)()
                except DatabaseError as exc:
                    # The cursors keep their place: nothing is skipped once they read again.
                    logger.warning(
                        "the live relay could not read the event log (%s); trying again",
                        exc,
                        extra={"action": "live_relay_read_failed"},
                    )
                    await asyncio.sleep(POLL_SECONDS)
                    continue
                if batch:
                    self.dispatch(batch)
                if not batch and not has_more:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(wake.wait(), POLL_SECONDS)
                await asyncio.sleep(max(0.0, read_at + MIN_READ_GAP_SECONDS - time.monotonic()))
        finally:
            stop.set()


class EventLogs:
    """The two logs the embedded relay reads: tasks' events and services' events."""

    def __init__(self, database: str) -> None:
        self.tasks = events.stream(database=database)
        self.services = ServiceEventStream(database=database)

    def start(self) -> None:
        self.task_cursor = self.tasks.start()
        self.service_cursor = self.services.start()

    def read(self) -> tuple[list[Frame], bool]:
        """The frames of the next events of both logs, and whether more are ready at once."""
        batch = [frame(event) for event in self.tasks.read(self.task_cursor)]
        batch += [service_frame(event) for event in self.services.read(self.service_cursor)]
        return batch, self.task_cursor.has_more or self.service_cursor.has_more


def _wake_on_commits(
    database: str, stop: threading.Event, loop: asyncio.AbstractEventLoop, wake: asyncio.Event
) -> None:
    """Set ``wake`` (on ``loop``) whenever events may have been committed, until ``stop``."""
    waiter = dialect_for(database).event_waiter(database, stop)
    try:
        while not stop.is_set():
            if waiter.wait(POLL_SECONDS) and not loop.is_closed():
                loop.call_soon_threadsafe(wake.set)
    except RuntimeError:
        # The loop closed between the check and the call: nothing left to wake.
        logger.debug(
            "live relay stopped with its event loop", extra={"action": "live_waker_stopped"}
        )
    finally:
        waiter.close()


_hubs: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Hub] = weakref.WeakKeyDictionary()


def hub() -> Hub:
    """The hub of the running event loop."""
    loop = asyncio.get_running_loop()
    found = _hubs.get(loop)
    if found is None:
        found = _hubs[loop] = Hub()
    return found
