"""The worker's own row: written from the supervisor loop, removed on a clean stop.

One ``WorkerProcess`` row per ``taskworker`` and one ``WorkerSlot`` row per
slot, so that a task's ``worker_id`` leads back to its worker (see
``models/worker_process.py``). The supervisor calls :meth:`Presence.run_if_due`
from its watch loop: it writes at most once per heartbeat interval (the
running task ids, read from the running table, and the new
``alive_until``), and at once when a slot was started or replaced.

No thread and no connection of its own: the supervisor forks slots, and
both a second thread and a connection open across ``fork`` are unsafe
there (``scheduler_duty.py`` says why); the supervisor closes its
connections before each fork. Slots run the tasks, never this loop, so a
slow write cannot slow a task. A lost connection is logged, the
connection closed, and the write tried again after a pause that doubles
up to ``RECONNECT_MAX_SECONDS``; the worker never stops for it. If the
row was swept meanwhile, the next write inserts it again.
"""

from __future__ import annotations

import logging
import random
import socket
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import DatabaseError, connections, transaction
from django.utils import timezone

from django_taskflow import models
from django_taskflow.db import LeaseUntil
from django_taskflow.worker.options import WorkerOptions
from django_taskflow.worker.reconnect import RECONNECT_MAX_SECONDS, RECONNECT_MIN_SECONDS

logger = logging.getLogger(__name__)

type Stamp = datetime | LeaseUntil

# A worker whose row was not refreshed for this many heartbeat intervals is gone.
GONE_AFTER_HEARTBEATS = 3
# How long the row of a gone worker stays visible (admin, `taskflow workers`).
GONE_ROWS_KEPT = timedelta(days=1)
# How often, at most, a worker deletes the rows gone longer than that.
SWEEP_SECONDS = 600.0


@dataclass(frozen=True, slots=True)
class SlotInfo:
    """One slot as the supervisor knows it."""

    index: int
    pid: int
    worker_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Identity:
    """What the row says about the worker, fixed for its lifetime."""

    worker_id: str
    host: str
    pid: int
    name: str
    backend: str
    pool: str
    queues: tuple[str, ...]
    capabilities: frozenset[str]
    concurrency: int

    @classmethod
    def of(cls, options: WorkerOptions, pid: int) -> Identity:
        """The identity of the worker that runs ``options`` as process ``pid``."""
        return cls(
            worker_id=options.slot_id(pid),
            host=socket.gethostname(),
            pid=pid,
            name=options.name,
            backend=options.backend,
            pool=options.pool,
            queues=options.queue_names,
            capabilities=options.capabilities,
            concurrency=options.concurrency,
        )


class Presence:
    """Keeps one worker's row; never raises ``DatabaseError`` out of its methods."""

    def __init__(
        self,
        identity: Identity,
        *,
        database: str,
        heartbeat_seconds: float,
        clock: Callable[[], float] = time.monotonic,
        now: Callable[[], datetime] | None = None,
    ) -> None:
        self.identity = identity
        self.database = database
        self.heartbeat_seconds = heartbeat_seconds
        self.clock = clock
        self.now = now
        self.started_at = now() if now is not None else timezone.now()
        self.row_id: int | None = None
        self.written_slots: tuple[SlotInfo, ...] | None = None
        self.next_beat = 0.0
        self.next_sweep = 0.0
        self.delay = RECONNECT_MIN_SECONDS
        self.failing = False

    def run_if_due(self, slots: Sequence[SlotInfo], running: Callable[[], list[str]]) -> bool:
        """Write the row if a heartbeat is due or the slots changed; say if it wrote."""
        clock = self.clock()
        if clock < self.next_beat and tuple(slots) == self.written_slots:
            return False
        if self.failing and clock < self.next_beat:
            return False  # pausing after a lost connection
        try:
            self._write(tuple(slots), running())
        except DatabaseError as exc:
            self._lost(exc)
            return False
        if self.failing:
            logger.info(
                "worker heartbeat written again", extra={"action": "worker_heartbeat_resumed"}
            )
        self.failing = False
        self.delay = RECONNECT_MIN_SECONDS
        self.next_beat = clock + self.heartbeat_seconds
        return True

    def remove(self) -> None:
        """Delete the row (and its slots): the worker stopped cleanly."""
        try:
            models.WorkerProcess.objects.using(self.database).filter(
                worker_id=self.identity.worker_id
            ).delete()
        except DatabaseError as exc:
            logger.warning(
                "could not delete this worker's row (%s); it will read as gone",
                exc,
                extra={"action": "worker_row_kept", "worker_id": self.identity.worker_id},
            )
            connections[self.database].close()

    def _stamps(self) -> tuple[Stamp, Stamp, Stamp]:
        """The heartbeat's time, ``alive_until``, and the sweep's cutoff.

        By the database's clock, as leases are, so that hosts whose clocks
        disagree never take a live worker for gone; a test's clock if given.
        """
        lapse = GONE_AFTER_HEARTBEATS * self.heartbeat_seconds
        if self.now is None:
            return LeaseUntil(0), LeaseUntil(lapse), LeaseUntil(-GONE_ROWS_KEPT.total_seconds())
        now = self.now()
        return now, now + timedelta(seconds=lapse), now - GONE_ROWS_KEPT

    def _write(self, slots: tuple[SlotInfo, ...], running: list[str]) -> None:
        now, alive_until, sweep_before = self._stamps()
        rows = models.WorkerProcess.objects.using(self.database)
        with transaction.atomic(using=self.database):
            updated = (
                self.row_id is not None
                and rows.filter(pk=self.row_id).update(
                    last_heartbeat=now, alive_until=alive_until, running_task_ids=running
                )
                == 1
            )
            if not updated:
                self.row_id = self._insert(now, alive_until, running)
                self.written_slots = None
            if slots != self.written_slots:
                self._write_slots(slots)
            if self.clock() >= self.next_sweep:
                rows.filter(alive_until__lt=sweep_before).delete()
        self.written_slots = slots
        if self.clock() >= self.next_sweep:
            self.next_sweep = self.clock() + SWEEP_SECONDS

    def _insert(self, now: Stamp, alive_until: Stamp, running: list[str]) -> int:
        """Insert the row; a row left with the same id (a reused pid) is a gone worker's."""
        identity = self.identity
        rows = models.WorkerProcess.objects.using(self.database)
        rows.filter(worker_id=identity.worker_id).delete()
        row = rows.create(
            worker_id=identity.worker_id,
            host=identity.host,
            pid=identity.pid,
            name=identity.name,
            backend=identity.backend,
            pool=identity.pool,
            queues=list(identity.queues),
            capabilities=sorted(identity.capabilities),
            concurrency=identity.concurrency,
            running_task_ids=running,
            started_at=self.started_at,
            last_heartbeat=now,
            alive_until=alive_until,
        )
        logger.debug(
            "worker row written", extra={"action": "worker_registered", "worker_id": row.worker_id}
        )
        return row.pk

    def _write_slots(self, slots: tuple[SlotInfo, ...]) -> None:
        assert self.row_id is not None  # noqa: S101 - inserted first, in the same transaction
        slot_rows = models.WorkerSlot.objects.using(self.database)
        slot_rows.filter(process_id=self.row_id).delete()
        # A slot id left by a gone worker (a reused pid) now names this slot.
        slot_rows.filter(worker_id__in=[slot.worker_id for slot in slots]).delete()
        slot_rows.bulk_create(
            models.WorkerSlot(
                worker_id=slot.worker_id, process_id=self.row_id, index=slot.index, pid=slot.pid
            )
            for slot in slots
        )

    def _lost(self, exc: DatabaseError) -> None:
        logger.warning(
            "could not write the worker heartbeat (%s); retrying in %.1f s",
            exc,
            self.delay,
            extra={"action": "worker_heartbeat_failed", "worker_id": self.identity.worker_id},
        )
        self.failing = True
        connections[self.database].close()
        self.next_beat = self.clock() + self.delay * random.uniform(0.5, 1.5)  # noqa: S311 (jitter)
        self.delay = min(self.delay * 2, RECONNECT_MAX_SECONDS)
