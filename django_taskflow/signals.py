"""Signals: Django's ``task_enqueued``, ``task_started`` and ``task_finished``.

The worker sends them robustly: a receiver that raises is logged and never
breaks the task or the worker.
"""

from __future__ import annotations

import logging
from typing import Any

from django.dispatch import Signal
from django.tasks.signals import task_enqueued, task_finished, task_started

logger = logging.getLogger(__name__)

__all__ = ["send_from_worker", "task_enqueued", "task_finished", "task_started"]


def send_from_worker(signal: Signal, sender: Any, **kwargs: Any) -> None:
    """Send ``signal``; log (with traceback) each receiver that raised."""
    for receiver, response in signal.send_robust(sender, **kwargs):
        if isinstance(response, Exception):
            logger.error(
                "signal receiver %r raised",
                receiver,
                exc_info=response,
                extra={"action": "receiver_failed"},
            )
