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
- ``task_requeued``: an operator put the task in the queue (``event.kind`` is
  ``retried`` for ``operations.retry_now``, ``requeued`` for a new task made
  by ``operations.requeue``).
- ``task_key_missing``: a worker lacking the task's encryption key handed it
  back, uncharged (``event.data["key"]`` names the key);
- ``alert_changed``: an ``OPTIONS["ALERTS"]`` incident opened or resolved;
  sent with ``incident`` (an ``AlertIncident``), ``resolved`` (bool) and
  ``payload`` (the JSON the webhook gets), by the worker that evaluated.
- ``flow_finished``: a flow (chain, group, chord, batch) ended; sent once,
  with ``flow`` (its ``models.Flow`` row).
- ``service_event``: a long-running service started, was taken over,
  emitted, failed or stopped; sent with ``event`` (a
  :class:`django_taskflow.services.log.ServiceEventRecord`).

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
from django.tasks import signals as django_signals
from django.tasks.signals import task_enqueued, task_finished, task_started

logger = logging.getLogger(__name__)

task_running = Signal()
task_progress = Signal()
task_soft_timeout = Signal()
task_retrying = Signal()
task_succeeded = Signal()
task_failed = Signal()
task_cancelled = Signal()
task_requeued = Signal()
task_key_missing = Signal()
alert_changed = Signal()
service_event = Signal()

# Sent with ``flow`` (a ``models.Flow``) once a flow's final state is committed.
flow_finished = Signal()

__all__ = [
    "alert_changed",
    "delivered_by",
    "flow_finished",
    "is_heard",
    "send_from_worker",
    "send_now",
    "service_event",
    "task_cancelled",
    "task_enqueued",
    "task_failed",
    "task_finished",
    "task_key_missing",
    "task_progress",
    "task_requeued",
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


# Django connects a receiver of its own to task_enqueued, task_started and
# task_finished: it logs to the "django.tasks" logger, at DEBUG for an
# enqueue, at INFO for a start or an end (ERROR for a failed task).
_DJANGO_LOGGERS = {
    id(receiver)
    for receiver in (
        getattr(django_signals, "log_task_enqueued", None),
        getattr(django_signals, "log_task_started", None),
        getattr(django_signals, "log_task_finished", None),
    )
    if receiver is not None
}
_django_tasks_logger = logging.getLogger("django.tasks")


def is_heard(signal: Signal, *, failed: bool = False) -> bool:
    """Whether sending ``signal`` would do anything.

    Django's own receiver of ``task_enqueued``, ``task_started`` and
    ``task_finished`` only logs, so while its logger would drop the line
    (the default: below INFO), that receiver alone is not worth a result
    snapshot or a trip through the dispatcher for every task. ``failed``:
    the task failed, which Django logs at ERROR.
    """
    receivers = signal.receivers
    if not receivers:
        return False
    for lookup_key, *_ in receivers:
        if lookup_key[0] not in _DJANGO_LOGGERS:
            return True
    level = logging.DEBUG if signal is task_enqueued else logging.INFO
    return _django_tasks_logger.isEnabledFor(logging.ERROR if failed else level)


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
