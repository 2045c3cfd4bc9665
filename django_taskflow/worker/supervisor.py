"""``Worker``: starts the slots, watches them, and stops them cleanly.

Process pool (``worker/process_pool.py``): one forked child per slot, each
with its own connection and worker id. Thread pool
(``worker/thread_pool.py``): the slots run as threads of this process.
Between its looks at the slots, the watch loop runs the worker's duties
(``worker/duties.py``) and keeps its ``WorkerProcess`` row.

Signals: the first SIGTERM/SIGINT stops claiming and lets running tasks
finish within ``SHUTDOWN_GRACE_SECONDS``; a second signal, or the end of
the grace period, forces the stop, and what was running is handed back.
Slot processes obey only the signals the supervisor relays to them
(``worker/slot_process.py``).
"""

from __future__ import annotations

import logging
import os
import signal
import time
from collections.abc import Callable
from types import FrameType

from django.db import connections

from django_taskflow.worker.duties import Duties
from django_taskflow.worker.options import WorkerOptions
from django_taskflow.worker.presence import Identity, Presence, SlotInfo
from django_taskflow.worker.process_pool import ProcessPool
from django_taskflow.worker.service_hosting import ServiceHosting
from django_taskflow.worker.stopping import StopState
from django_taskflow.worker.thread_pool import ThreadPool

logger = logging.getLogger(__name__)


class Worker:
    """Runs ``options.concurrency`` slots until stopped (or drained, with burst)."""

    def __init__(self, options: WorkerOptions) -> None:
        self.options = options
        self.backend_options = options.backend_options
        self.state = StopState()
        self.pool: ProcessPool | ThreadPool = (
            ThreadPool(options, self.state)
            if options.pool == "thread"
            else ProcessPool(options, self.state)
        )
        self.failed_duty = False
        self.duties = Duties(options, on_fault=self._on_duty_fault)
        self.presence_failed = False
        self.services = ServiceHosting.for_worker(options)
        # This worker's WorkerProcess row, kept from the watch loop too.
        self.presence = Presence(
            Identity.of(options, os.getpid()),
            database=self.backend_options.database,
            heartbeat_seconds=self.backend_options.heartbeat_seconds,
        )

    # -- signals -------------------------------------------------------------

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        self.state.signals += 1
        if self.state.requested_at is None:
            logger.info(
                "received %s: finishing running tasks (grace %.0f s), claiming no more",
                signal.Signals(signum).name,
                self.backend_options.shutdown_grace_seconds,
                extra={"action": "worker_stopping"},
            )
            self._drain()
        elif not self.state.forced:
            logger.warning("second signal: stopping now", extra={"action": "worker_forced_stop"})
            self._force()
        self.state.wake.set()

    def _drain(self) -> None:
        """Stop claiming and let running tasks finish, as the first signal does."""
        if self.state.requested_at is None:
            self.state.requested_at = time.monotonic()
            self.pool.drain()
            if self.services is not None:
                self.services.drain()

    def _force(self) -> None:
        self.state.forced = True
        self.state.requested_at = self.state.requested_at or time.monotonic()
        self.pool.force()

    # -- running -------------------------------------------------------------

    def run(self) -> int:
        """Run until stopped; return the process exit code."""
        previous = {
            signum: signal.signal(signum, self._on_signal)
            for signum in (signal.SIGTERM, signal.SIGINT)
        }
        try:
            if self.options.burst:
                # A burst worker does what is due once (fires due schedules), then drains.
                self._run_duties()
                self.duties.active.clear()
            code = self._watch()
            return 1 if self.failed_duty else code
        finally:
            if self.services is not None:
                self.services.close(self.backend_options.shutdown_grace_seconds)
            self.presence.remove()
            connections.close_all()
            for signum, handler in previous.items():
                signal.signal(signum, handler)
            self.pool.close()
            self.state.wake.close()

    def _watch(self) -> int:
        """Run the pool's watch loop, tending this worker's duties at each pass."""
        return self.pool.run(self._tend, self._wait_at_most)

    def _tend(self) -> None:
        # The heartbeat first: a slow duty (an alert's webhook) must not hold
        # back the row that tells operators and recovery this worker lives.
        self._keep_presence(self.pool.slots, self.pool.running)
        self._run_duties()
        if self.services is not None:
            self.services.watch()

    def _wait_at_most(self, seconds: float) -> float:
        if self.state.requested_at is not None:
            return seconds
        return self.duties.due_in(seconds)

    # -- duties --------------------------------------------------------------

    def _run_duties(self) -> None:
        """Run the duties that are due, unless the worker is stopping."""
        if self.state.requested_at is None:
            self.duties.run_due()

    def _on_duty_fault(self) -> None:
        self.failed_duty = True
        self._drain()

    def _keep_presence(
        self, slots: Callable[[], list[SlotInfo]], running: Callable[[], list[str]]
    ) -> None:
        """Write this worker's row when due; a fault in its own code stops the worker."""
        if self.presence_failed:
            return
        try:
            self.presence.run_if_due(slots(), running)
        except Exception:
            # Not a lost connection (Presence handles those): a bug. A worker
            # whose row lapses reads as dead to operators and to recovery.
            logger.exception(
                "the worker heartbeat failed; the worker stops",
                extra={"action": "worker_heartbeat_died"},
            )
            self.presence_failed = self.failed_duty = True
            self._drain()
