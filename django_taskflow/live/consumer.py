"""The websocket consumer at ``/ws/taskflow/``: subscriptions in, task frames out.

Thin: it refuses anonymous and inactive users at the handshake, parses
each message with ``subscriptions.parse``, checks what the user may see
with ``access`` (through ``database_sync_to_async``) and forwards the
frames its hub delivers. Replies:

- ``{"type": "subscribed", "subscription": {...}}``, then for ``task`` and
  ``tasks`` a ``"current"`` frame per task with its state now;
- ``{"type": "subscribed", ...}`` for ``service``, then that service's
  ``"current"`` frame if it exists;
- ``{"type": "error", "code": "...", "message": "..."}`` for a message it
  cannot parse (``bad_subscription``), a task the user may not see or
  services for a user who may not see them (``forbidden``); the socket
  stays open;
- ``{"type": "task", ...}`` frames (see ``frames.py``) for each event of
  a followed task the user may see, and ``{"type": "service", ...}``
  frames for each event of a followed service.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from django_taskflow import access
from django_taskflow.live import relay
from django_taskflow.live.frames import Frame, current_frames, current_service_frame
from django_taskflow.live.subscriptions import (
    MAX_SUBSCRIPTIONS,
    BadSubscription,
    Subscription,
    parse,
)

logger = logging.getLogger(__name__)

# Close code for a refused handshake (browsers see 1006 or this): 4000 + HTTP 403.
REFUSED = 4403
# Frames waiting for a slow client; past this the newest are dropped.
MAX_WAITING_FRAMES = 10_000
# Task ids whose visibility a consumer remembers (a user's own tasks stay theirs).
MAX_REMEMBERED_TASKS = 10_000


class TaskflowConsumer(AsyncJsonWebsocketConsumer):
    """Pushes status and progress of the tasks a client subscribed to."""

    async def connect(self) -> None:
        self.user = self.scope.get("user")
        if not access.is_active_user(self.user):
            await self.close(code=REFUSED)
            return
        self.sees_all = access.sees_all_tasks(self.user)
        # Permissions are read once, as the task rules are: a socket keeps what it was given.
        self.sees_services, self.sees_payload = await database_sync_to_async(_service_rights)(
            self.user
        )
        self.subscriptions: list[Subscription] = []
        self.visible: dict[str, bool] = {}
        self.inbox: asyncio.Queue[list[Frame]] = asyncio.Queue()
        self.waiting = 0
        self.hub = relay.hub()
        await self.accept()
        await self.hub.join(self)
        self.pump = asyncio.create_task(self._pump(), name="taskflow-live-consumer")

    async def disconnect(self, code: int) -> None:
        if hasattr(self, "pump"):
            self.pump.cancel()
            await self.hub.leave(self)

    async def receive(
        self, text_data: str | None = None, bytes_data: bytes | None = None, **kwargs: Any
    ) -> None:
        try:
            message = json.loads(text_data or bytes_data or b"")
        except ValueError:
            await self._error("bad_subscription", "A message must be a JSON object.")
            return
        await self.receive_json(message)

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        try:
            request = parse(content)
        except BadSubscription as exc:
            await self._error("bad_subscription", str(exc))
            return
        if request.action == "unsubscribe":
            self.subscriptions = []
            await self.send_json({"type": "unsubscribed"})
            return
        subscription = request.subscription
        if subscription is None:  # parse() gives one with every "subscribe"
            raise BadSubscription("A subscribe request without a subscription.")
        if len(self.subscriptions) >= MAX_SUBSCRIPTIONS:
            await self._error(
                "bad_subscription", f"A socket holds at most {MAX_SUBSCRIPTIONS} subscriptions."
            )
            return
        if subscription.tasks is not None and not await self._may_see_all(subscription.tasks):
            await self._error("forbidden", "No such task, or you may not see it.")
            return
        if subscription.is_for_services and not self.sees_services:
            await self._error("forbidden", "You may not see services.")
            return
        self.subscriptions.append(subscription)
        await self.send_json({"type": "subscribed", "subscription": subscription.describe()})
        if subscription.tasks is not None:
            for current in await database_sync_to_async(current_frames)(subscription.tasks):
                await self.send_json(current)
        if subscription.service is not None:
            service = await database_sync_to_async(current_service_frame)(subscription.service)
            if service is not None:
                await self.send_json(service)

    def deliver(self, frames: list[Frame]) -> None:
        """Take frames from the hub (never blocks; drops them for a client far behind)."""
        if not self.subscriptions:
            return
        if self.waiting + len(frames) > MAX_WAITING_FRAMES:
            logger.debug("dropped %d live frames for a slow client", len(frames))
            return
        self.waiting += len(frames)
        self.inbox.put_nowait(frames)

    async def _pump(self) -> None:
        while True:
            frames = await self.inbox.get()
            self.waiting -= len(frames)
            wanted = [f for f in frames if any(s.matches(f) for s in self.subscriptions)]
            if wanted and not self.sees_all:
                await self._learn_visibility({f["task"] for f in wanted if f["type"] == "task"})
                wanted = [f for f in wanted if f["type"] != "task" or self.visible[f["task"]]]
            for item in wanted:
                shown = self._service_frame_for_user(item) if item["type"] == "service" else item
                if shown is not None:
                    await self.send_json(shown)

    def _service_frame_for_user(self, frame: Frame) -> Frame | None:
        """The frame as this user may see it; None if they may not see services."""
        if not self.sees_services:
            return None
        if self.sees_payload:
            return frame
        return {**frame, "data": access.public_service_data(frame["event"], frame["data"])}

    async def _may_see_all(self, task_ids: frozenset[str]) -> bool:
        await self._learn_visibility(task_ids, fresh=True)
        return all(self.visible[task_id] for task_id in task_ids)

    async def _learn_visibility(
        self, task_ids: set[str] | frozenset[str], fresh: bool = False
    ) -> None:
        """Look up, in one query, whether the user may see each task not yet known."""
        unknown = set(task_ids) if fresh else {t for t in task_ids if t not in self.visible}
        if not unknown:
            return
        seen = await database_sync_to_async(access.visible_ids)(self.user, unknown)
        if len(self.visible) > MAX_REMEMBERED_TASKS:
            self.visible.clear()
        for task_id in unknown:
            self.visible[task_id] = task_id in seen

    async def _error(self, code: str, message: str) -> None:
        await self.send_json({"type": "error", "code": code, "message": message})


def _service_rights(user: Any) -> tuple[bool, bool]:
    """Whether ``user`` sees services, and payload (``has_perm`` reads the database)."""
    return access.sees_services(user), access.sees_payload(user)
