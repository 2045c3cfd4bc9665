"""Long-running services: one owner at a time, messages in, events out.

``@service`` marks a class; ``services.start()`` runs it on a worker with
``--services``; ``send()`` queues messages for its ``on_message``;
``events()`` follows what it emits; ``status()`` and ``stop()`` steer it.
See docs/howto/services.md.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from django_taskflow.services.context import ServiceContext
from django_taskflow.services.definition import ServiceDefinition, service

if TYPE_CHECKING:
    from django_taskflow.services.api import (
        ServiceStatus,
        arestart,
        asend,
        astart,
        astatus,
        astop,
        events,
        restart,
        send,
        start,
        status,
        stop,
    )

# The API reads the models, which cannot load with the package: imported on first use.
_LAZY = {
    "ServiceStatus",
    "arestart",
    "asend",
    "astart",
    "astatus",
    "astop",
    "events",
    "restart",
    "send",
    "start",
    "status",
    "stop",
}


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'django_taskflow.services' has no attribute {name!r}")
    return getattr(importlib.import_module("django_taskflow.services.api"), name)


__all__ = [
    "ServiceContext",
    "ServiceDefinition",
    "ServiceStatus",
    "arestart",
    "asend",
    "astart",
    "astatus",
    "astop",
    "events",
    "restart",
    "send",
    "service",
    "start",
    "status",
    "stop",
]
