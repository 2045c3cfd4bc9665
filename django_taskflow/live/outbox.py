"""Put committed events on a shared channel layer, from whichever process recorded them.

With a channel layer that crosses processes (``channels_redis``), every
process that records events (a worker's slots, a web process cancelling a
task, a command) sends their frames to one group, ``EVENTS_GROUP``; each web
process with live clients is a member (``relay.py``). Workers publish
themselves, rather than a relay reading the log, because that is one hop
less (a progress report reaches the browser in tens of milliseconds) and
costs the database nothing more.

Without one (no ``CHANNEL_LAYERS``, or the in-memory layer), this does
nothing: web processes read the event log instead.

Sending never blocks the caller: frames go to a thread of their own with
its own event loop, which sends what has piled up as one message. The
event log stays the record; a message lost here (Redis down) is logged,
and a client that reconnects reads the current state again.
"""

from __future__ import annotations

import asyncio
import atexit
import functools
import logging
import os
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.core.signals import setting_changed

from django_taskflow.live.frames import Frame, frame

if TYPE_CHECKING:
    from django_taskflow.events import TaskEvent

logger = logging.getLogger(__name__)

EVENTS_GROUP = "taskflow.events"
MESSAGE_TYPE = "taskflow.frames"
# Frames per channel-layer message: well under any layer's message size.
MAX_FRAMES_PER_MESSAGE = 500
IN_MEMORY_LAYER = "channels.layers.InMemoryChannelLayer"


@functools.cache
def carried_by_channel_layer() -> bool:
    """Whether events travel by the channel layer: one is configured and it crosses processes."""
    layers: dict[str, Any] = getattr(settings, "CHANNEL_LAYERS", {}) or {}
    backend = layers.get("default", {}).get("BACKEND")
    return bool(backend) and backend != IN_MEMORY_LAYER


def _forget_layer(setting: str, **kwargs: Any) -> None:
    if setting == "CHANNEL_LAYERS":
        carried_by_channel_layer.cache_clear()


setting_changed.connect(_forget_layer)


def publish(events: Sequence[TaskEvent]) -> None:
    """Send the frames of committed ``events`` to ``EVENTS_GROUP`` (if events travel that way)."""
    if events and carried_by_channel_layer():
        _outbox().send([frame(event) for event in events])


class Outbox:
    """A thread with its own event loop that sends frames to the channel layer in order."""

    def __init__(self) -> None:
        self.ready = threading.Event()
        self.loop: asyncio.AbstractEventLoop | None = None
        self.queue: asyncio.Queue[list[Frame] | None] | None = None
        self.thread = threading.Thread(target=self._run, name="taskflow-live-outbox", daemon=True)
        self.thread.start()
        self.ready.wait()

    def send(self, frames: list[Frame]) -> None:
        assert self.loop is not None and self.queue is not None
        self.loop.call_soon_threadsafe(self.queue.put_nowait, frames)

    def close(self, timeout: float) -> None:
        """Send what is queued, waiting at most ``timeout`` seconds, then stop."""
        if self.loop is not None and self.queue is not None and self.thread.is_alive():
            self.loop.call_soon_threadsafe(self.queue.put_nowait, None)
            self.thread.join(timeout)

    def _run(self) -> None:
        asyncio.run(self._main())

    async def _main(self) -> None:
        from channels.layers import get_channel_layer

        self.loop = asyncio.get_running_loop()
        self.queue = asyncio.Queue()
        self.ready.set()
        layer = get_channel_layer()
        stopping = False
        while not stopping:
            frames = await self.queue.get()
            if frames is None:
                break
            # Whatever piled up while the last message was sent goes as one.
            while not self.queue.empty():
                more = self.queue.get_nowait()
                if more is None:
                    stopping = True
                    break
                frames.extend(more)
            for start in range(0, len(frames), MAX_FRAMES_PER_MESSAGE):
                chunk = frames[start : start + MAX_FRAMES_PER_MESSAGE]
                try:
                    await layer.group_send(EVENTS_GROUP, {"type": MESSAGE_TYPE, "frames": chunk})
                except Exception as exc:  # live updates are best effort: log, go on
                    logger.warning(
                        "could not send %d live updates to the channel layer: %s",
                        len(chunk),
                        exc,
                        extra={"action": "live_publish_failed"},
                    )


_lock = threading.Lock()
_current: tuple[int, Outbox] | None = None


def _outbox() -> Outbox:
    """This process's outbox, started on first use (again in a forked child)."""
    global _current
    with _lock:
        if _current is None or _current[0] != os.getpid():
            _current = (os.getpid(), Outbox())
            atexit.register(_current[1].close, 2.0)
        return _current[1]
