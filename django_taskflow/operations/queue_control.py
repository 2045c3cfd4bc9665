"""Steering queues: pause, resume and limit, across all workers.

A change is one row of QueueState, committed with a NOTIFY (PostgreSQL;
on SQLite the commit itself wakes idle workers). Every worker re-reads
the rows at least twice a second before it claims, so a change holds
across all workers within about a second, without a restart, and
survives restarts. Tasks already running are not touched.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

from django.db import connections, transaction
from django.tasks import task_backends

from django_taskflow.conf import Options
from django_taskflow.db import dialect_for
from django_taskflow.definition import NAME_MAX_LENGTH
from django_taskflow.exceptions import InvalidQueueOperation
from django_taskflow.operations.twins import async_twin
from django_taskflow.queues import STATE_REFRESH_SECONDS

if TYPE_CHECKING:
    from django_taskflow.backend import TaskflowBackend

logger = logging.getLogger(__name__)

# Beyond the workers' refresh interval: a claim or a read that was under way.
PAUSE_MARGIN_SECONDS = 0.1


def pause_queue(name: str, *, backend: str = "default") -> None:
    """Stop every worker from starting tasks of queue ``name``; queued tasks wait.

    Running tasks finish; tasks a worker had claimed but not started go
    back to the queue. Lasts until :func:`resume_queue`, across restarts.
    Returns once every worker has had time to see the pause (about 0.6 s):
    from then on no task of the queue starts. Call it outside
    ``transaction.atomic()``, so that the pause is committed first.
    """
    _write_state(backend, name, paused=True)
    logger.info("queue %s paused", name, extra={"action": "queue_paused", "queue": name})
    # Every worker re-reads the states before it starts a task, at most this
    # long after the last read: once it has passed, no task of the queue
    # starts anywhere, whenever it was enqueued.
    time.sleep(STATE_REFRESH_SECONDS + PAUSE_MARGIN_SECONDS)


def resume_queue(name: str, *, backend: str = "default") -> None:
    """Let workers start tasks of queue ``name`` again (undoes :func:`pause_queue`)."""
    _write_state(backend, name, paused=False)
    logger.info("queue %s resumed", name, extra={"action": "queue_resumed", "queue": name})


def set_queue_limit(name: str, limit: int | None, *, backend: str = "default") -> None:
    """Cap the running tasks of queue ``name`` at ``limit``, across all workers.

    Overrides ``OPTIONS["QUEUE_LIMITS"]`` until called again; ``None``
    goes back to the setting (no limit if it has none). Lowering a limit
    stops new starts until the queue's running tasks are below it; it
    does not interrupt them.
    """
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise InvalidQueueOperation(
            f"limit of queue {name!r} must be None or a whole number of at least 1, got "
            f"{limit!r}. To stop a queue altogether, use pause_queue({name!r})."
        )
    _write_state(backend, name, limit_override=limit)
    logger.info(
        "queue %s limit set to %s",
        name,
        "the setting's" if limit is None else limit,
        extra={"action": "queue_limit_set", "queue": name},
    )


apause_queue = async_twin(pause_queue)
aresume_queue = async_twin(resume_queue)
aset_queue_limit = async_twin(set_queue_limit)


def check_backend(backend: str) -> Options:
    """The options of ``backend``, once it is known to be a django_taskflow backend."""
    return _taskflow_backend(backend).config


def _taskflow_backend(backend: str) -> TaskflowBackend:
    from django_taskflow.backend import TaskflowBackend

    if backend not in task_backends.settings:
        raise InvalidQueueOperation(f"backend {backend!r} is not in TASKS.")
    instance = task_backends[backend]
    if not isinstance(instance, TaskflowBackend):
        raise InvalidQueueOperation(
            f"TASKS[{backend!r}] uses {type(instance).__name__}, not django_taskflow's backend."
        )
    return instance


def check_queue(backend: str, name: str) -> Options:
    """The backend's options, once ``name`` is known to be one of its queues."""
    instance = _taskflow_backend(backend)
    if not isinstance(name, str) or not name or len(name) > NAME_MAX_LENGTH:
        raise InvalidQueueOperation(f"queue must be the name of a queue, got {name!r}.")
    if instance.queues and name not in instance.queues:
        known = ", ".join(repr(queue) for queue in sorted(instance.queues))
        raise InvalidQueueOperation(
            f"queue {name!r} is not in TASKS[{backend!r}]['QUEUES'] ({known})."
        )
    return instance.config


def _write_state(backend: str, name: str, **changes: object) -> None:
    from django_taskflow import models  # not at import: the package __init__ exports this module

    database = check_queue(backend, name).database
    with transaction.atomic(using=database):
        models.QueueState.objects.using(database).update_or_create(
            backend=backend, name=name, defaults=changes
        )
        with connections[database].cursor() as cursor:
            dialect_for(database).notify(cursor)  # sent at commit: idle workers look again
