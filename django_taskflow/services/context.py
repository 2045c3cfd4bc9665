"""``ServiceContext``: what a running service's handlers are given."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from django_taskflow.exceptions import UnserializablePayload
from django_taskflow.services.checks import checked_json


@dataclass(kw_only=True)
class ServiceContext:
    """The service's name, config and owner; ``emit()`` publishes an event.

    ``is_stopping`` turns true when ``services.stop()`` was called or this
    worker lets the service go (it is shutting down, or could not renew the
    lease): a long handler should return. After ``services.stop()`` the
    messages sent before it are still delivered, then ``on_stop`` runs.
    """

    name: str
    config: dict[str, Any]
    owner: str
    database: str = "default"
    # Set when the worker lets the service go ...
    stopping: threading.Event = field(default_factory=threading.Event)
    # ... and when services.stop() asked it to stop.
    stop_requested: threading.Event = field(default_factory=threading.Event)

    @property
    def is_stopping(self) -> bool:
        return self.stopping.is_set() or self.stop_requested.is_set()

    def emit(self, data: dict[str, Any]) -> None:
        """Record an ``emitted`` event, which ``services.events()`` and signals receive.

        Raises :class:`UnserializablePayload` for data that is not a plain
        JSON object, and :class:`PayloadTooLarge` past ``MAX_PAYLOAD_BYTES``.
        """
        if not isinstance(data, dict):
            raise UnserializablePayload(
                f"context.emit() takes a JSON object, got {type(data).__name__}."
            )
        checked_json(data, "the event")
        from django_taskflow.services import log  # reads the models: not at import

        log.record(
            self.database, self.name, log.ServiceEventKind.EMITTED, owner=self.owner, data=data
        )
