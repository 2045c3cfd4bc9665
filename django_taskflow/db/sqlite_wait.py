"""SQLite: how idle slots and the live relay wait for a commit (``db.sqlite`` names these)."""

from __future__ import annotations

import os
import threading
import time

from django.db import connections


class Waiter:
    """Sleeps until the database files change, the timeout passes or ``stop`` is set.

    SQLite has no notifications, but every commit writes to the database
    file or its write-ahead log; a ``stat`` every few milliseconds sees an
    enqueue without querying the database. For a second after a change the
    checks come every millisecond, when more work is likely to follow; then
    every 5 ms, so that a worker left idle costs little CPU (two ``stat``
    calls per check).
    """

    BUSY_CHECK_SECONDS = 0.001
    IDLE_CHECK_SECONDS = 0.005
    BUSY_FOR_SECONDS = 1.0

    def __init__(self, database: str, stop: threading.Event) -> None:
        self.stop = stop
        name = str(connections[database].settings_dict["NAME"])
        in_memory = name == ":memory:" or name.startswith("file:") or not name
        self.paths = [] if in_memory else [name, f"{name}-wal"]
        self.seen = self._signature()
        self.changed_at = time.monotonic()

    def _signature(self) -> tuple[tuple[int, int], ...]:
        signature = []
        for path in self.paths:
            try:
                status = os.stat(path)
            except FileNotFoundError:
                signature.append((0, 0))
            else:
                signature.append((status.st_mtime_ns, status.st_size))
        return tuple(signature)

    def check_interval(self, now: float) -> float:
        """Seconds until the next check: short while changes came lately."""
        if now - self.changed_at < self.BUSY_FOR_SECONDS:
            return self.BUSY_CHECK_SECONDS
        return self.IDLE_CHECK_SECONDS

    def wait(self, timeout: float) -> bool:
        """Return True when the database changed (a commit happened)."""
        if not self.paths:
            self.stop.wait(timeout)
            return False
        now = time.monotonic()
        deadline = now + timeout
        while not self.stop.wait(self.check_interval(now)):
            now = time.monotonic()
            signature = self._signature()
            if signature != self.seen:
                self.seen = signature
                self.changed_at = now
                return True
            if now >= deadline:
                return False
        return False

    def close(self) -> None:
        """Nothing to release."""


def event_waiter(database: str, stop: threading.Event) -> Waiter:
    """A waiter woken by every commit, events included (the live relay's)."""
    return Waiter(database, stop)
