"""What a websocket client asks to follow, parsed and checked (pure: no database).

A client sends JSON messages::

    {"type": "subscribe", "task": "<id>"}
    {"type": "subscribe", "tasks": ["<id>", "<id>"]}
    {"type": "subscribe", "tag": "uploads"}
    {"type": "subscribe", "name": "myapp.tasks.upload_file"}
    {"type": "subscribe", "all": true}
    {"type": "subscribe", "service": "ride-42"}
    {"type": "subscribe", "services": true}
    {"type": "unsubscribe"}

Each ``subscribe`` adds one subscription (with exactly one of ``task``,
``tasks``, ``tag``, ``name``, ``all``, ``service`` and ``services``);
``unsubscribe`` drops them all. ``all`` means every task: services are
followed by name (``service``) or all of them (``services``).
Anything else raises :class:`BadSubscription`, whose message the consumer
sends back.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from django_taskflow.exceptions import TaskflowError
from django_taskflow.live.frames import Frame

# Bounds on what one socket may ask for: each id is checked against the
# database, and each subscription is matched against every event.
MAX_TASKS = 500
MAX_SUBSCRIPTIONS = 50
MAX_TEXT_CHARS = 255  # a task path's length; tags are shorter in practice

SELECTORS = ("task", "tasks", "tag", "name", "all", "service", "services")
SERVICE_NAME_MAX_CHARS = 200


class BadSubscription(TaskflowError, ValueError):
    """The message is not a subscription this consumer understands."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Subscription:
    """One thing a client follows; with no field set, every task it may see."""

    tasks: frozenset[str] | None = None
    tag: str | None = None
    name: str | None = None
    service: str | None = None
    services: bool = False

    @property
    def is_for_services(self) -> bool:
        return self.services or self.service is not None

    def matches(self, frame: Frame) -> bool:
        """Whether ``frame`` is about a task or service this subscription follows."""
        if frame.get("type") == "service":
            return self.services or frame["service"] == self.service
        if self.is_for_services:
            return False
        if self.tasks is not None:
            return frame["task"] in self.tasks
        if self.tag is not None:
            return self.tag in frame["tags"]
        if self.name is not None:
            return bool(frame["name"] == self.name)
        return True

    def describe(self) -> dict[str, Any]:
        """The subscription as the client may have written it (for the acknowledgement)."""
        if self.tasks is not None:
            return {"tasks": sorted(self.tasks)}
        if self.tag is not None:
            return {"tag": self.tag}
        if self.name is not None:
            return {"name": self.name}
        if self.service is not None:
            return {"service": self.service}
        if self.services:
            return {"services": True}
        return {"all": True}


@dataclass(frozen=True, slots=True, kw_only=True)
class Request:
    """A parsed message: subscribe (with its subscription) or unsubscribe."""

    action: str
    subscription: Subscription | None = None


def parse(message: Any) -> Request:
    """Parse a decoded JSON message; raise :class:`BadSubscription` saying what is wrong."""
    if not isinstance(message, dict):
        raise BadSubscription(f"A message must be a JSON object, got {_shown(message)}.")
    action = message.get("type")
    if action == "unsubscribe":
        return Request(action="unsubscribe")
    if action != "subscribe":
        raise BadSubscription(f'"type" must be "subscribe" or "unsubscribe", got {_shown(action)}.')
    given = [key for key in SELECTORS if key in message]
    unknown = sorted(set(message) - {"type", *SELECTORS})
    if unknown:
        raise BadSubscription(f"Unknown field(s) {', '.join(unknown)}; use one of {SELECTORS}.")
    if len(given) != 1:
        raise BadSubscription(f"A subscription takes exactly one of {SELECTORS}, got {given}.")
    key = given[0]
    value = message[key]
    if key == "task":
        return _subscribe(Subscription(tasks=frozenset([_task_id(value)])))
    if key == "tasks":
        if not isinstance(value, list) or not value:
            raise BadSubscription(
                f'"tasks" must be a non-empty list of task ids, got {_shown(value)}.'
            )
        if len(value) > MAX_TASKS:
            raise BadSubscription(f'"tasks" takes at most {MAX_TASKS} ids, got {len(value)}.')
        return _subscribe(Subscription(tasks=frozenset(_task_id(item) for item in value)))
    if key in ("all", "services"):
        if value is not True:
            raise BadSubscription(f'"{key}" must be true, got {_shown(value)}.')
        return _subscribe(Subscription(services=key == "services"))
    if key == "service":
        if not isinstance(value, str) or not value.strip() or len(value) > SERVICE_NAME_MAX_CHARS:
            raise BadSubscription(
                f'"service" must be a service\'s name, 1 to {SERVICE_NAME_MAX_CHARS} characters, '
                f"got {_shown(value)}."
            )
        return _subscribe(Subscription(service=value))
    if not isinstance(value, str) or not value or len(value) > MAX_TEXT_CHARS:
        raise BadSubscription(
            f'"{key}" must be text of 1 to {MAX_TEXT_CHARS} characters, got {_shown(value)}.'
        )
    return _subscribe(Subscription(tag=value) if key == "tag" else Subscription(name=value))


def _subscribe(subscription: Subscription) -> Request:
    return Request(action="subscribe", subscription=subscription)


def _task_id(value: Any) -> str:
    """A task id in its canonical form, or BadSubscription."""
    if isinstance(value, str):
        try:
            return str(uuid.UUID(value))
        except ValueError:
            pass
    raise BadSubscription(f"A task id must be a UUID, got {_shown(value)}.")


def _shown(value: Any) -> str:
    """``value`` for an error message, cut short: it comes from the client."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
