"""The pause after a lost database connection, shared by a slot's threads.

Each thread that talks to the database (the slot's main thread, its
recorder, its lease keeper) has its own connection and its own
``Reconnect``: it closes the broken connection, waits, and lets the next
query reconnect. The pause doubles, with jitter, up to a maximum, and is
reset by the next success.
"""

from __future__ import annotations

import logging
import random
import threading

from django.db import connections

logger = logging.getLogger(__name__)

RECONNECT_MIN_SECONDS = 0.5
RECONNECT_MAX_SECONDS = 30.0


class Reconnect:
    """Pauses between tries to reach the database from one thread."""

    def __init__(self, *, database: str, worker_id: str, max_delay: float) -> None:
        self.database = database
        self.worker_id = worker_id
        self.max_delay = min(RECONNECT_MAX_SECONDS, max_delay)
        self.delay = RECONNECT_MIN_SECONDS
        # Never set: a stopping slot must still pause between tries to write
        # its last outcomes, rather than retry in a busy loop.
        self._pause = threading.Event()

    def lost(self, during: str, exc: Exception) -> None:
        """Close this thread's connection, then wait before the next try."""
        logger.warning(
            "database connection lost during %s (%s); reconnecting",
            during,
            exc,
            extra={"action": "connection_lost", "worker_id": self.worker_id},
        )
        connections[self.database].close()
        self.wait()

    def wait(self) -> None:
        """Pause before the next try, longer each time."""
        self._pause.wait(self.delay * random.uniform(0.5, 1.5))  # noqa: S311 (jitter)
        # Capped below the heartbeat interval by the caller, so that a short
        # outage does not let this worker's leases expire while it waits.
        self.delay = min(self.delay * 2, self.max_delay)

    def succeeded(self) -> None:
        self.delay = RECONNECT_MIN_SECONDS
