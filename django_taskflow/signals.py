"""Signals, one per transition, and the robust sender the worker uses.

Django's own ``task_enqueued``, ``task_started`` and ``task_finished`` are
sent with ``task_result`` (a ``TaskResult``), as ``django.tasks`` documents.
Ours are sent with ``event`` (a :class:`django_taskflow.events.TaskEvent`)
after the change is committed:

- ``task_running``: an attempt started;
- ``task_progress``: the task reported progress;
- ``task_soft_timeout``: an attempt passed its soft time limit;
- ``task_retrying``: an attempt failed and another is scheduled;
- ``task_succeeded``, ``task_failed``, ``task_cancelled``: the task ended.

A receiver that raises is logged and never breaks the task or the worker.
In a worker, the threads that record outcomes and keep leases never call
receivers themselves: they hand each signal to their slot's publisher
thread (``delivered_by``), so a slow receiver cannot cost a lease.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from django.dispatch import Signal
from django.tasks.signals import task_enqueued, task_finished, task_started

logger = logging.getLogger(__name__)

task_running = Signal()
task_progress = Signal()
task_soft_timeout = Signal()
task_retrying = Signal()
task_succeeded = Signal()
task_failed = Signal()
task_cancelled = Signal()

__all__ = [
    "delivered_by",
    "send_from_worker",
    "send_now",
    "task_cancelled",
    "task_enqueued",
    "task_failed",
    "task_finished",
    "task_progress",
    "task_retrying",
    "task_running",
    "task_soft_timeout",
    "task_started",
    "task_succeeded",
]


type Deliver = Callable[[Signal, Any, dict[str, Any]], None]

_thread = threading.local()


@contextmanager
def delivered_by(deliver: Deliver) -> Iterator[None]:
    """Within this block, hand this thread's ``send_from_worker`` calls to ``deliver``."""
    previous = getattr(_thread, "deliver", None)
    _thread.deliver = deliver
    try:
        yield
    finally:
        _thread.deliver = previous


def send_from_worker(signal: Signal, sender: Any, **kwargs: Any) -> None:
    """Send ``signal``, or queue it for delivery when this thread says so (``delivered_by``)."""
    if not signal.receivers:
        return  # nothing to call: not worth a trip through the publisher's queue
    deliver: Deliver | None = getattr(_thread, "deliver", None)
    if deliver is not None:
        deliver(signal, sender, kwargs)
    else:
        send_now(signal, sender, kwargs)


def send_now(signal: Signal, sender: Any, kwargs: dict[str, Any]) -> None:
    """Send ``signal`` in this thread; log (with traceback) each receiver that raised."""
    for receiver, response in signal.send_robust(sender, **kwargs):
        if isinstance(response, Exception):
            logger.error(
                "signal receiver %r raised",
                receiver,
                exc_info=response,
                extra={"action": "receiver_failed"},
            )
