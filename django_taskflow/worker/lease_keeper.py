"""Keep a slot's leases: renew them, extend them on request, recover others'.

The lease keeper has its own thread and its own database connection, and
it never runs user code: the signals that a recovery sends go to the
slot's publisher. So a task that blocks, a slow hook or a long recorder
write cannot make this worker's leases expire.

- Every ``heartbeat_seconds`` it renews the lease of every task the slot
  holds (running and prefetched).
- On request (``context.heartbeat()``, ``context.extend_lease()``) it
  extends one task's lease at once, on its own connection, so that the
  extension is visible to every worker when the call returns, even if the
  task's code is inside ``transaction.atomic()``.
- Every ``LEASE_SECONDS / 4`` to ``/ 2`` (jittered) it recovers tasks whose
  lease expired, so recovery never depends on one process staying alive.
- It watches the supervisor: when the slot's parent process is gone, the
  slot stops as on a first signal.
- It reads the cancel requests for the slot's tasks and hands them to the
  slot: when its supervisor passes on a ``NOTIFY`` (a process pool on
  PostgreSQL), else once a second while the slot holds a task, through the
  index of running tasks by worker. A cancel reaches the task within a second.
"""

from __future__ import annotations

import logging
import os
import random
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from django.db import DatabaseError, connections

from django_taskflow import cancel_requests, recovery, signals
from django_taskflow.conf import Options
from django_taskflow.db import dialect_for
from django_taskflow.flows import advance as flow_advance
from django_taskflow.worker.publisher import Publisher
from django_taskflow.worker.reconnect import Reconnect
from django_taskflow.worker.wakeup import WakePipe

logger = logging.getLogger(__name__)

# How long a task's own extension request waits to be written.
EXTEND_WAIT_SECONDS = 10.0
# How often, at most, the keeper looks for its supervisor.
PARENT_CHECK_SECONDS = 0.5
# How often a slot that holds tasks looks for cancel requests, unless its
# supervisor passes them on (then PARENT_CHECK_SECONDS bounds the delay).
CANCEL_POLL_SECONDS = 1.0


@dataclass(slots=True)
class _Extension:
    task_id: uuid.UUID
    seconds: float
    written: threading.Event = field(default_factory=threading.Event)


class LeaseKeeper:
    """Renews, extends and recovers leases for one slot."""

    def __init__(
        self,
        *,
        options: Options,
        worker_id: str,
        publisher: Publisher,
        stop: threading.Event,
        parent_pid: int | None = None,
        now: Callable[[], datetime],
        inline: bool = False,
        cancel_poke: WakePipe | None = None,
        on_cancel_requests: Callable[[list[cancel_requests.CancelRequest]], None] | None = None,
        holds_tasks: Callable[[], bool] = lambda: True,
    ) -> None:
        self.database = options.database
        self.worker_id = worker_id
        self.lease_seconds = options.lease_seconds
        self.heartbeat_seconds = options.heartbeat_seconds
        self.publisher = publisher
        self.slot_stop = stop
        self.parent_pid = parent_pid
        self.now = now
        self.inline = inline
        self.one_writer: bool = dialect_for(self.database).ONE_WRITER
        self.reconnect = Reconnect(
            database=self.database, worker_id=worker_id, max_delay=self.heartbeat_seconds
        )
        self.changed = threading.Condition()
        self.extensions: list[_Extension] = []
        self.stopping = False
        self.next_renewal = 0.0
        self.next_recovery = 0.0
        self.cancel_poke = cancel_poke
        self.on_cancel_requests = on_cancel_requests
        self.holds_tasks = holds_tasks
        self.next_cancel_check = 0.0
        self.cancel_check_owed = False
        self.thread: threading.Thread | None = None

    def start(self) -> None:
        if not self.inline:
            self.thread = threading.Thread(
                target=self._loop, name=f"lease-keeper-{self.worker_id}", daemon=True
            )
            self.thread.start()

    def stop(self) -> None:
        with self.changed:
            self.stopping = True
            self.changed.notify()
        if self.thread is not None:
            self.thread.join()

    def extend(self, task_id: uuid.UUID, seconds: float) -> None:
        """Make ``task_id``'s lease last ``seconds`` more; return once it is written.

        Called from the task's code (any thread). Written on the keeper's own
        connection, except inline (``run_tasks()``: the caller's connection
        and transaction) and on a one-writer database (SQLite) inside the
        caller's transaction, which holds the write lock: there, in it.
        """
        if self.inline or (self.one_writer and connections[self.database].in_atomic_block):
            recovery.extend_lease(self.database, self.worker_id, task_id, seconds)
            return
        extension = _Extension(task_id=task_id, seconds=seconds)
        with self.changed:
            self.extensions.append(extension)
            self.changed.notify()
        if not extension.written.wait(EXTEND_WAIT_SECONDS):
            logger.warning(
                "the lease extension of task %s is not written yet; going on",
                task_id,
                extra={"action": "lease_extension_late", "task_id": str(task_id)},
            )

    def run_due(self) -> None:
        """Do whatever is due now: requested extensions, renewal, recovery."""
        self._watch_parent()
        while self.extensions:
            extension = self.extensions[0]
            recovery.extend_lease(
                self.database, self.worker_id, extension.task_id, extension.seconds
            )
            with self.changed:
                self.extensions.remove(extension)  # only once written: a failure keeps it
            extension.written.set()
        clock = time.monotonic()
        if clock >= self.next_renewal:
            recovery.extend_leases(self.database, self.worker_id, self.lease_seconds)
            # Only once written: after a failure it is tried again right
            # after the reconnect pause, not a whole interval later.
            self.next_renewal = clock + self.heartbeat_seconds
        if clock >= self.next_recovery:
            # Every worker recovers expired leases; jitter spreads them out.
            self.next_recovery = clock + self.lease_seconds / 2 * random.uniform(0.5, 1)  # noqa: S311
            recovery.recover_expired(self.database, self.now())
            # Flows whose step ended without advancing them (a worker died
            # between the two commits, or the step was recovered or cancelled),
            # and quiet ones, whose step's task may have been deleted.
            flow_advance.sweep(self.database, self.now(), lease_seconds=self.lease_seconds)
        if self.on_cancel_requests is not None and self._cancel_check_due(clock):
            self.cancel_check_owed = True  # until read: a failed read is tried again
            self.on_cancel_requests(cancel_requests.pending_requests(self.database, self.worker_id))
            self.cancel_check_owed = False

    def _cancel_check_due(self, clock: float) -> bool:
        if self.cancel_poke is not None:
            # Read every time: it must not fill up while the slot is idle.
            return self.cancel_poke.take() or self.cancel_check_owed
        if clock < self.next_cancel_check:
            return self.cancel_check_owed
        self.next_cancel_check = clock + CANCEL_POLL_SECONDS
        return self.cancel_check_owed or self.holds_tasks()

    def _next_due(self) -> float:
        due = min(self.next_renewal, self.next_recovery)
        if self.on_cancel_requests is not None and self.cancel_poke is None:
            due = min(due, self.next_cancel_check)
        return due

    def _loop(self) -> None:
        with signals.delivered_by(self.publisher.deliver):
            try:
                while True:
                    with self.changed:
                        if not self.extensions and not self.stopping:
                            due = self._next_due()
                            wait = min(due - time.monotonic(), PARENT_CHECK_SECONDS)
                            self.changed.wait(max(0.0, wait))
                        if self.stopping:
                            return
                    try:
                        with self.publisher.batch():
                            self.run_due()
                        self.reconnect.succeeded()
                    except DatabaseError as exc:
                        self.reconnect.lost("lease renewal", exc)
                    except Exception:
                        logger.exception(
                            "lease duty failed; trying again",
                            extra={"action": "lease_duty_failed", "worker_id": self.worker_id},
                        )
                        self.reconnect.wait()
            except BaseException:
                logger.exception(
                    "the lease keeper thread failed; this slot stops",
                    extra={"action": "lease_keeper_failed", "worker_id": self.worker_id},
                )
                self.slot_stop.set()
            finally:
                connections.close_all()

    def _watch_parent(self) -> None:
        if self.parent_pid is None or os.getppid() == self.parent_pid:
            return
        if not self.slot_stop.is_set():
            logger.warning(
                "the supervisor process is gone; this slot stops",
                extra={"action": "supervisor_lost", "worker_id": self.worker_id},
            )
        self.slot_stop.set()
