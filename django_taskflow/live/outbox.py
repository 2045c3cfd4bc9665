"""Put committed events on a shared channel layer, from whichever process recorded them.

With a channel layer that crosses processes (``channels_redis``), every
process that records events (a worker's slots, its service host, a web
process cancelling a task, a command) sends their frames to one group, ``EVENTS_GROUP``; each web
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
import functools
import logging
import multiprocessing.util
import os
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.core.signals import setting_changed

from django_taskflow.exceptions import ConfigurationError
from django_taskflow.live.frames import Frame, frame

if TYPE_CHECKING:
    from channels.layers import BaseChannelLayer

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


def channel_layer() -> BaseChannelLayer:
    """The default channel layer; ``ConfigurationError`` if none is configured."""
    from channels.layers import get_channel_layer

    layer = get_channel_layer()
    if layer is None:
        raise ConfigurationError("Live progress through a channel layer needs CHANNEL_LAYERS.")
    return layer


def publish(events: Sequence[TaskEvent]) -> None:
    """Send the frames of committed ``events`` to ``EVENTS_GROUP`` (if events travel that way)."""
    if events and carried_by_channel_layer():
        _outbox().send([frame(event) for event in events])


def publish_frames(frames: list[Frame]) -> None:
    """Send frames of committed events (a service's) to ``EVENTS_GROUP``, as ``publish`` does."""
    if frames and carried_by_channel_layer():
        _outbox().send(frames)


def prepare() -> None:
    """Start this process's outbox now, if events travel by the channel layer.

    A worker's slot calls it as it starts, so that loading the layer (and
    its Redis client) delays no task's first progress report.
    """
    if carried_by_channel_layer():
        _outbox()


class Outbox:
    """A thread with its own event loop that sends frames to the channel layer in order."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.queue: asyncio.Queue[list[Frame] | None] = asyncio.Queue()
        self.thread = threading.Thread(target=self._run, name="taskflow-live-outbox", daemon=True)
        self.thread.start()

    def send(self, frames: list[Frame]) -> None:
        self.loop.call_soon_threadsafe(self.queue.put_nowait, frames)

    def close(self, timeout: float) -> None:
        """Send what is queued, waiting at most ``timeout`` seconds, then stop."""
        if self.thread.is_alive():
            self.loop.call_soon_threadsafe(self.queue.put_nowait, None)
            self.thread.join(timeout)

    def _run(self) -> None:
        try:
            self.loop.run_until_complete(self._main())
        finally:
            self.loop.close()

    async def _main(self) -> None:
        try:
            channel_layer()  # loaded before the first message, not with it
        except Exception as exc:  # logged here; each send will say it again
            logger.warning(
                "could not load the channel layer: %s", exc, extra={"action": "live_layer_failed"}
            )
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
                    # Looked up each time: the settings may have changed it.
                    layer = channel_layer()
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
            # Runs at exit, in a worker's forked slots too (which skip atexit),
            # so that the last outcomes are sent before the process ends.
            multiprocessing.util.Finalize(
                _current[1], _current[1].close, args=(2.0,), exitpriority=10
            )
        return _current[1]
