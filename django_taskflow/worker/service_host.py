"""The service host: a worker's own process for services, apart from its task slots.

The supervisor starts it (``worker/service_hosting.py``) once a service
waits for an owner. Its main thread keeps the leases: it renews those of
the services it owns every third of a lease, claims free ones up to
``--max-services``, and notices a supervisor that is gone. Each owned
service runs in a thread of its own (``services/runner.py``), which checks
before each handler that the lease is still confirmed. A service whose
lease could not be renewed in time is let go before the lease ends, so
that the worker that takes it over never runs beside it.

On PostgreSQL the main thread waits on a ``LISTEN`` connection of its own
(the dialect's ``service_waiter``): ``services.send()`` and ``stop()``
notify the service's name, and the host wakes that service's runner at
once; ``services.start()`` notifies an empty name, and the host claims at
once. On SQLite, and while that connection is down, runners poll.

A runner sees ``services.stop()`` between handlers; while one of its
handlers runs, the host looks for the stop request every half second and
tells the runner, which sets ``context.is_stopping``.

Like slot processes, the host ignores SIGTERM and SIGINT and obeys the
supervisor's relayed signals (SIGUSR1, SIGUSR2: stop). When it stops, it
waits up to the worker's grace period for its handlers to return and lets
those services go (``ownership.release``) so that another worker takes
them over at once; ``on_stop`` is kept for ``services.stop()``. The
supervisor hands over the others once this process has ended. A host
whose supervisor died (SIGKILL) expires its leases instead, so that the
next owner records the takeover.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from typing import Any

from django.db import DatabaseError, connections

from django_taskflow.db import dialect_for
from django_taskflow.services import ownership
from django_taskflow.services.host_plan import HostPlan, host_owner
from django_taskflow.services.runner import ServiceRunner
from django_taskflow.worker.reconnect import Reconnect

logger = logging.getLogger(__name__)

# A lease is trusted until this share of it has passed since the renewal was sent.
TRUSTED_SHARE = 0.8
TICK_SECONDS = 0.2
# How often the host looks for stop requests to services whose handler runs.
STOP_CHECK_SECONDS = 0.5


class ServiceHost:
    """Owns up to ``max_services`` services and runs each in a thread."""

    def __init__(self, plan: HostPlan) -> None:
        self.database = plan.database
        self.lease_seconds = plan.lease_seconds
        self.renew_every = plan.lease_seconds / 3
        self.claim_every = min(plan.poll_interval, self.renew_every)
        self.max_services = plan.max_services
        self.owner = host_owner(plan.host, os.getpid())
        self.parent_pid = plan.parent_pid
        self.grace_seconds = plan.grace_seconds
        self.stop = threading.Event()
        # The supervisor died: nobody hands over what this host leaves.
        self.orphaned = False
        self.runners: dict[str, ServiceRunner] = {}
        # Service name -> monotonic time until which its lease is known to hold.
        self.trusted_until: dict[str, float] = {}
        self.reconnect = Reconnect(
            database=self.database, worker_id=self.owner, max_delay=self.renew_every
        )
        # The dialect's waiter for service notifications; None where there are none.
        self.waiter: Any = None

    def listening(self) -> bool:
        """Whether notifications wake the runners now (else they poll more often)."""
        return self.waiter is not None and bool(self.waiter.listening)

    def holds(self, name: str) -> bool:
        return not self.stop.is_set() and time.monotonic() < self.trusted_until.get(name, 0.0)

    def run(self) -> None:
        logger.info(
            "service host %s started (at most %d services)",
            self.owner,
            self.max_services,
            extra={"action": "service_host_started", "worker_id": self.owner},
        )
        self.waiter = dialect_for(self.database).service_waiter(self.database, self.stop)
        next_renew = next_claim = next_stop_check = 0.0
        while not self.stop.is_set():
            if os.getppid() != self.parent_pid:
                logger.warning(
                    "the worker is gone; the service host stops",
                    extra={"action": "service_host_orphaned", "worker_id": self.owner},
                )
                self.orphaned = True
                break
            try:
                self._reap()
                if time.monotonic() >= next_renew:
                    self._renew()
                    next_renew = time.monotonic() + self.renew_every
                if time.monotonic() >= next_claim:
                    self._claim()
                    next_claim = time.monotonic() + self.claim_every
                if time.monotonic() >= next_stop_check:
                    self._pass_on_stop_requests()
                    next_stop_check = time.monotonic() + STOP_CHECK_SECONDS
                self.reconnect.succeeded()
            except DatabaseError as exc:
                self.reconnect.lost("service leases", exc)
                continue
            if self._wait(min(TICK_SECONDS, max(0.0, next_renew - time.monotonic()))):
                next_claim = 0.0
        self._let_go()

    def _wait(self, timeout: float) -> bool:
        """Sleep, waking the runners of services notified; True if a service was started."""
        if self.waiter is None:
            self.stop.wait(timeout)
            return False
        started = False
        for name in self.waiter.received(timeout):
            runner = self.runners.get(name)
            if runner is not None:
                runner.wake()
            elif not name:
                started = len(self.runners) < self.max_services
        return started

    def _renew(self) -> None:
        # A runner let go whose handler has not returned yet holds no lease to renew.
        kept = {
            name: runner for name, runner in self.runners.items() if not runner.released.is_set()
        }
        if not kept:
            return
        sent_at = time.monotonic()
        held = ownership.renew(self.database, self.owner, list(kept), self.lease_seconds)
        for name, runner in kept.items():
            if name in held:
                self.trusted_until[name] = sent_at + self.lease_seconds * TRUSTED_SHARE
            else:
                logger.warning(
                    "service %s: this host lost its lease; letting it go",
                    name,
                    extra={"action": "service_lease_lost", "service": name},
                )
                self.trusted_until.pop(name, None)
                runner.release()

    def _pass_on_stop_requests(self) -> None:
        busy = [name for name, runner in self.runners.items() if runner.in_handler]
        for name in ownership.stopping(self.database, busy):
            self.runners[name].stop_requested.set()

    def _claim(self) -> None:
        free = self.max_services - len(self.runners)
        sent_at = time.monotonic()
        claimed = ownership.claim(
            self.database, self.owner, limit=free, lease_seconds=self.lease_seconds
        )
        for name, previous_owner in claimed.items():
            self.trusted_until[name] = sent_at + self.lease_seconds * TRUSTED_SHARE
            runner = ServiceRunner(
                name=name,
                owner=self.owner,
                database=self.database,
                may_run=lambda name=name: self.holds(name),  # type: ignore[misc]
                heartbeat_seconds=self.renew_every,
                listening=self.listening,
                taken_over_from=previous_owner,
            )
            self.runners[name] = runner
            runner.start()

    def _reap(self) -> None:
        """Forget the services whose runner ended (stopped, failed, or let go)."""
        for name, runner in list(self.runners.items()):
            if not runner.thread.is_alive():
                del self.runners[name]
                self.trusted_until.pop(name, None)
                if not runner.released.is_set():
                    # Ended on its own: stopped or failed (then it holds no lease), or
                    # the runner broke: let another host have it.
                    ownership.release(self.database, self.owner, [name])

    def _let_go(self) -> None:
        """Stop every runner; hand over the services of those that returned within the grace.

        A service whose handler is still running keeps its lease: it is
        handed over once this process has ended (by the supervisor, or when
        the lease runs out), never while the handler may still run.
        """
        self.stop.set()
        for runner in self.runners.values():
            runner.release()
        deadline = time.monotonic() + self.grace_seconds
        for runner in self.runners.values():
            runner.thread.join(max(0.0, deadline - time.monotonic()))
        done = [name for name, runner in self.runners.items() if not runner.thread.is_alive()]
        if self.waiter is not None:
            self.waiter.close()
        hand_over = ownership.expire if self.orphaned else ownership.release
        try:
            hand_over(self.database, self.owner, done)
        except DatabaseError as exc:
            logger.warning(
                "could not release services (%s); their leases will expire",
                exc,
                extra={"action": "service_release_failed", "worker_id": self.owner},
            )
        finally:
            connections.close_all()
