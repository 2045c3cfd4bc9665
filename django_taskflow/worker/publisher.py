"""Deliver a slot's signals and hooks from a queue, on a thread of their own.

The recorder and the lease keeper commit changes; the signals announcing
them (and so the hooks, which are receivers) are sent here, in order. A
receiver that is slow, even slower than a lease, delays only the
receivers queued after it, never a lease renewal or the next write.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.db import connections
from django.dispatch import Signal

from django_taskflow import signals

logger = logging.getLogger(__name__)

type _Signal = tuple[Signal, Any, dict[str, Any]]
type _Item = list[_Signal] | None


class Publisher:
    """Sends queued signals on its own thread (or at once, for an inline slot)."""

    def __init__(self, *, name: str, inline: bool = False) -> None:
        self.inline = inline
        self.queue: queue.SimpleQueue[_Item] = queue.SimpleQueue()
        self.thread: threading.Thread | None = None
        if not inline:
            self.thread = threading.Thread(target=self._loop, name=f"publisher-{name}", daemon=True)
            self.thread.start()

    def deliver(self, signal: Signal, sender: Any, kwargs: dict[str, Any]) -> None:
        """Queue one signal (matches ``signals.Deliver``)."""
        if self.inline:
            signals.send_now(signal, sender, kwargs)
        else:
            self.queue.put([(signal, sender, kwargs)])

    @contextmanager
    def batch(self) -> Iterator[None]:
        """Queue the signals this thread sends within the block as one item.

        One hand-over per batch rather than per signal: the publisher thread
        wakes once, not once per finished task.
        """
        if self.inline:
            yield
            return
        items: list[_Signal] = []
        with signals.delivered_by(
            lambda signal, sender, kwargs: items.append((signal, sender, kwargs))
        ):
            try:
                yield
            finally:
                if items:
                    self.queue.put(items)

    def close(self, timeout: float) -> None:
        """Deliver what is queued, waiting at most ``timeout`` seconds, then stop."""
        if self.thread is None:
            return
        self.queue.put(None)
        deadline = time.monotonic() + timeout
        self.thread.join(max(0.0, deadline - time.monotonic()))
        if self.thread.is_alive():
            logger.warning(
                "stopped with about %d signals not yet sent: a receiver is still running",
                self.queue.qsize(),
                extra={"action": "signals_undelivered"},
            )

    def _loop(self) -> None:
        try:
            while (item := self.queue.get()) is not None:
                for signal, sender, kwargs in item:
                    try:
                        signals.send_now(signal, sender, kwargs)
                    except BaseException:
                        # send_robust catches Exception; this is a receiver's
                        # SystemExit or the like. The thread goes on.
                        logger.exception(
                            "a signal receiver raised past send_robust",
                            extra={"action": "receiver_failed"},
                        )
        finally:
            # Receivers may have queried the database on this thread.
            connections.close_all()
