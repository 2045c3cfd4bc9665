"""Wake-ups for a process pool: one ``LISTEN`` connection per supervisor.

On PostgreSQL the supervisor holds the only ``LISTEN`` connection of its
worker. Its watch loop blocks in ``select`` on that connection's socket
and on its own wake pipe (written by its signal handlers), so it sleeps
until a notification, a signal or its next look at the slots, whichever
comes first. On a notification it writes a byte to every slot's pipe;
a slot with nothing to do waits on its pipe's read end.

Every slot is woken, as when each slot had its own ``LISTEN``: the slots
claim with ``SKIP LOCKED``, so the extra ones find nothing and wait again.
Skipping the slots that look busy is not safe: a slot's running mark
outlives its last claim, so a slot that has just gone idle would miss
the wake-up and sleep until ``POLL_INTERVAL``.

The pipes are created before the slots are forked, and no thread is
started in the supervisor, so forking stays safe. The ``LISTEN``
connection is closed before each fork (a child must not share its socket)
and reopened afterwards; after every (re)connection all slots are woken
once, to cover notifications sent while nobody listened.

If the connection breaks, the slots fall back to claiming every
``POLL_INTERVAL`` and the supervisor reconnects with a growing pause,
logging both. If the supervisor dies, the slots see the end of their pipe
and poll until their lease keeper notices and stops them.

SQLite workers and thread pools do not use this module: their slots keep
their own waiter (``db/sqlite.py`` watches the database file; a thread
pool's slots each ``LISTEN``).
"""

from __future__ import annotations

import contextlib
import logging
import os
import random
import select
import threading
import time
from collections.abc import Callable
from typing import Any, Protocol

from django.db import connections

from django_taskflow.worker.reconnect import RECONNECT_MAX_SECONDS, RECONNECT_MIN_SECONDS

logger = logging.getLogger(__name__)

# How often a waiting slot looks at its stop event.
STOP_CHECK_SECONDS = 0.25
# While the LISTEN connection is down, how often every slot looks for cancels.
BLIND_POKE_SECONDS = 1.0
_READ_SIZE = 4096


class Waiter(Protocol):
    """What a slot waits on when it finds nothing to claim."""

    def wait(self, timeout: float) -> bool:
        """Sleep until woken, ``timeout`` passes or the slot stops; True if woken."""
        ...

    def close(self) -> None: ...


class WakePipe:
    """A non-blocking pipe: ``set()`` writes a byte, the reader waits for it.

    ``set()`` is safe in a signal handler. A full pipe already holds a
    wake-up, so a write that would block is dropped.
    """

    def __init__(self) -> None:
        self.read_fd, self.write_fd = os.pipe()
        os.set_blocking(self.read_fd, False)
        os.set_blocking(self.write_fd, False)

    def fileno(self) -> int:
        return self.read_fd

    def set(self) -> None:
        if self.write_fd < 0:
            return
        # A full pipe already holds a wake-up. No logging: this runs in signal handlers.
        with contextlib.suppress(BlockingIOError):
            os.write(self.write_fd, b"\0")

    def clear(self) -> bool:
        """Read every pending byte; return False if the writing end is closed."""
        while True:
            try:
                if not os.read(self.read_fd, _READ_SIZE):
                    return False
            except BlockingIOError:
                return True

    def take(self) -> bool:
        """Read every pending byte without waiting; True if there was one."""
        taken = False
        while self.read_fd >= 0:
            try:
                if not os.read(self.read_fd, _READ_SIZE):
                    return taken
            except BlockingIOError:
                return taken
            taken = True
        return taken

    def wait(self, timeout: float) -> bool:
        """Block until a byte is pending or ``timeout`` passes; True if one is."""
        ready, _, _ = select.select([self.read_fd], [], [], max(0.0, timeout))
        return bool(ready)

    def close_write(self) -> None:
        if self.write_fd >= 0:
            os.close(self.write_fd)
            self.write_fd = -1

    def close(self) -> None:
        self.close_write()
        if self.read_fd >= 0:
            os.close(self.read_fd)
            self.read_fd = -1


class SlotWaiter:
    """A slot process's waiter: its end of the supervisor's wake pipe."""

    def __init__(self, pipe: WakePipe, stop: threading.Event) -> None:
        self.pipe = pipe
        self.stop = stop
        self.orphaned = False

    def wait(self, timeout: float) -> bool:
        """Return True when the supervisor passed on a notification."""
        deadline = time.monotonic() + timeout
        while not self.stop.is_set():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            if self.orphaned:
                # The supervisor is gone: poll; the lease keeper stops the slot.
                self.stop.wait(remaining)
                return False
            if self.pipe.wait(min(remaining, STOP_CHECK_SECONDS)):
                if self.pipe.clear():
                    return True
                self.orphaned = True
        return False

    def close(self) -> None:
        self.pipe.close()


class SharedListener:
    """The supervisor's ``LISTEN`` connection and its slots' wake pipes.

    It also listens for cancel requests (``taskflow_cancel``, payload
    ``"<worker id> <task id>"``) and hands each to ``on_cancel``, which
    pokes the slot's cancel pipe; its lease keeper then reads the request.
    While the connection is down, every slot is poked once a second, so
    that cancels still arrive within about a second.
    """

    def __init__(
        self,
        *,
        database: str,
        slots: int,
        on_cancel: Callable[[str, str], None] | None = None,
    ) -> None:
        self.database = database
        self.pipes = [WakePipe() for _ in range(slots)]
        self.cancel_pipes = [WakePipe() for _ in range(slots)]
        self.on_cancel = on_cancel
        self.next_blind_poke = 0.0
        self.connection: Any = None
        self.retry_at = 0.0
        self.delay = RECONNECT_MIN_SECONDS
        self.failed = False

    def wait(self, timeout: float, wake: WakePipe) -> None:
        """Block until ``wake`` is set or ``timeout`` passes, passing on notifications."""
        import psycopg

        deadline = time.monotonic() + timeout
        while True:
            if self.connection is None and time.monotonic() >= self.retry_at:
                self._connect()
            if self.connection is None and time.monotonic() >= self.next_blind_poke:
                # No notifications: each slot looks for cancels itself.
                self.next_blind_poke = time.monotonic() + BLIND_POKE_SECONDS
                self.poke_all()
            remaining = deadline - time.monotonic()
            if self.connection is None:
                remaining = min(remaining, self.retry_at - time.monotonic())
            watched = [wake.fileno()]
            if self.connection is not None:
                watched.append(self.connection.fileno())
            ready, _, _ = select.select(watched, [], [], max(0.0, remaining))
            if wake.fileno() in ready:
                return
            if ready:
                try:
                    self._pass_on(list(self.connection.notifies(timeout=0)))
                except psycopg.Error as exc:
                    self._lost(exc)
            if time.monotonic() >= deadline:
                return

    def _pass_on(self, notifications: list[Any]) -> None:
        from django_taskflow.db.postgres_listen import CANCEL_CHANNEL

        woken = False
        for notification in notifications:
            if notification.channel == CANCEL_CHANNEL:
                worker_id, _, task_id = notification.payload.partition(" ")
                if self.on_cancel is not None:
                    self.on_cancel(worker_id, task_id)
            else:
                woken = True
        if woken:
            self.wake_slots()

    def wake_slots(self) -> None:
        for pipe in self.pipes:
            pipe.set()

    def poke_all(self) -> None:
        """Have every slot look for cancel requests."""
        for pipe in self.cancel_pipes:
            pipe.set()

    def _connect(self) -> None:
        import psycopg

        from django_taskflow.db import postgres_listen

        try:
            self.connection = postgres_listen.connect_listener(
                self.database, (postgres_listen.CHANNEL, postgres_listen.CANCEL_CHANNEL)
            )
        except psycopg.Error as exc:
            self._lost(exc)
            return
        if self.failed:
            logger.info(
                "LISTEN connection restored; slots are woken by notifications again",
                extra={"action": "listener_reconnected"},
            )
        else:
            logger.debug("listening for notifications for %d slots", len(self.pipes))
        self.failed = False
        self.delay = RECONNECT_MIN_SECONDS
        # Notifications sent while nobody listened are lost: look once.
        self.wake_slots()
        self.poke_all()

    def _lost(self, exc: Exception) -> None:
        pause = self.delay * random.uniform(0.5, 1.5)  # noqa: S311 (jitter)
        logger.warning(
            "LISTEN connection failed (%s); slots poll until it reconnects (next try in %.1f s)",
            exc,
            pause,
            extra={"action": "listener_failed"},
        )
        self.disconnect()
        self.failed = True
        self.retry_at = time.monotonic() + pause
        self.delay = min(self.delay * 2, RECONNECT_MAX_SECONDS)

    def disconnect(self) -> None:
        """Close the connection (before a fork); the next ``wait`` reopens it."""
        connection, self.connection = self.connection, None
        if connection is not None:
            connection.close()

    def waiter_for(self, index: int, stop: threading.Event) -> SlotWaiter:
        """In slot ``index``'s process: keep its pipe's read end, close every other end.

        With no write end left in the slot, the pipe reads as ended once the
        supervisor is gone.
        """
        for pipes in (self.pipes, self.cancel_pipes):
            for position, pipe in enumerate(pipes):
                if position == index:
                    pipe.close_write()
                else:
                    pipe.close()
        return SlotWaiter(self.pipes[index], stop)

    def close(self) -> None:
        self.disconnect()
        for pipe in [*self.pipes, *self.cancel_pipes]:
            pipe.close()


def shares_listener(database: str, pool: str) -> bool:
    """Whether a worker's slots share the supervisor's ``LISTEN`` connection."""
    return pool == "process" and connections[database].vendor == "postgresql"
