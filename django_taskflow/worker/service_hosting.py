"""The supervisor's side of services: start the service host once services run, watch it.

A worker that hosts no service pays one cheap query per poll interval in
its supervisor loop (does any service run?), and nothing on the task
path. The first time the answer is yes, it spawns the host process, even
when another worker owns every service: a host standing by takes a
service over as soon as its owner's lease expires, instead of first
spending seconds starting up. The host process (``worker/service_host.py``)
then keeps running beside the slots, not counted against ``--concurrency``.
Spawned, not forked: the supervisor may run thread slots, and forking a
process with threads can deadlock the child.

Once the host process has ended (it died, or it was stopped and killed
after the grace period because a handler did not return), the supervisor
expires the leases it still held: with the process gone no handler of
those services runs, so another host takes them over at once, recording
``taken_over``, instead of after the lease.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import signal
import time
from typing import Any

from django.db import DatabaseError, connections

from django_taskflow.services.host_plan import HostPlan, host_owner, run_host_process
from django_taskflow.worker.options import WorkerOptions

logger = logging.getLogger("django_taskflow.worker.supervisor")

# A host that died is started again after this pause (doubling up to a minute).
RESPAWN_FIRST_SECONDS = 1.0
RESPAWN_MAX_SECONDS = 60.0


class ServiceHosting:
    """Starts, restarts and stops this worker's service host process."""

    def __init__(self, options: WorkerOptions) -> None:
        backend_options = options.backend_options
        self.database = backend_options.database
        self.check_every = backend_options.poll_interval
        self.plan = HostPlan(
            database=backend_options.database,
            lease_seconds=backend_options.lease_seconds,
            poll_interval=backend_options.poll_interval,
            max_services=options.max_services,
            host=options.host,
            parent_pid=os.getpid(),
            log_format=options.log_format,
            verbosity=options.verbosity,
            grace_seconds=backend_options.shutdown_grace_seconds,
        )
        self.process: Any = None
        self.next_check = 0.0
        self.respawn_pause = RESPAWN_FIRST_SECONDS
        self.stopping = False

    @classmethod
    def for_worker(cls, options: WorkerOptions) -> ServiceHosting | None:
        """The hosting of a worker with ``--services`` (not in burst mode), else None."""
        return cls(options) if options.services and not options.burst else None

    def watch(self) -> None:
        """Notice a dead host; start one when a service waits for an owner."""
        if self.process is not None and not self.process.is_alive():
            self.process.join()
            logger.error(
                "the service host %s died with exit code %s; its services are taken over",
                self.process.pid,
                self.process.exitcode,
                extra={"action": "service_host_died"},
            )
            self._expire_leases()
            self.process = None
            self.next_check = time.monotonic() + self.respawn_pause
            self.respawn_pause = min(self.respawn_pause * 2, RESPAWN_MAX_SECONDS)
        if self.stopping or self.process is not None or time.monotonic() < self.next_check:
            return
        self.next_check = time.monotonic() + self.check_every
        from django_taskflow.services import ownership  # reads the models

        try:
            waiting = ownership.any_live(self.database)
        except DatabaseError as exc:
            logger.warning(
                "could not look for services to host (%s)",
                exc,
                extra={"action": "service_check_failed"},
            )
            connections[self.database].close()
            return
        if waiting:
            self._start()

    def _start(self) -> None:
        self.process = multiprocessing.get_context("spawn").Process(
            target=run_host_process, args=(self.plan,), name="taskworker-services"
        )
        self.process.start()
        logger.info(
            "service host started as process %s",
            self.process.pid,
            extra={"action": "service_host_started"},
        )

    def drain(self) -> None:
        """Tell the host to let its services go (another worker takes them over)."""
        self.stopping = True
        if self.process is not None and self.process.pid:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.process.pid, signal.SIGUSR1)

    def close(self, timeout: float) -> None:
        """Wait for the host to end, up to ``timeout`` seconds; then kill it."""
        self.drain()
        if self.process is None:
            return
        self.process.join(timeout)
        if self.process.is_alive():
            self.process.kill()
            self.process.join()
        self._expire_leases()

    def _expire_leases(self) -> None:
        """End the leases the host that just ended still held, so they are taken over now.

        Its handlers stopped with its process (a handler that never returned,
        or a host that died), so no other host can run beside them: there
        is no reason to wait for the leases to run out.
        """
        from django_taskflow.services import ownership  # reads the models

        owner = host_owner(self.plan.host, self.process.pid)
        try:
            expired = ownership.expire(self.database, owner)
        except DatabaseError as exc:
            logger.warning(
                "could not hand over the services of the service host %s (%s); they are "
                "taken over when their leases expire",
                self.process.pid,
                exc,
                extra={"action": "service_handover_failed"},
            )
            connections[self.database].close()
            return
        if expired:
            logger.info(
                "%d services of the service host %s handed over",
                expired,
                self.process.pid,
                extra={"action": "service_leases_expired"},
            )
