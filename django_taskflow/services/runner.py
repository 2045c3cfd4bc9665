"""``ServiceRunner``: one owned service's life in a thread of the service host.

It calls ``on_start``, then delivers messages in id order (deleting each
after ``on_message`` returned), calls ``on_tick`` on time, and ends with
``on_stop`` when the service is asked to stop, once the messages sent
before the stop request were delivered. Idle, it waits until its
host wakes it (PostgreSQL: ``services.send()`` and ``stop()`` notify the
host) or its poll interval passes. Before each handler it
checks that its host still holds the lease (``may_run``), so that a host
that lost it never runs the service beside its new owner.

Failures: an ``on_start`` or ``on_tick`` that raises discards the instance,
which starts again after a backoff; ``max_restarts`` of them within the
restart window mark the service failed (``budget``), and so does a
takeover from an owner that died while it ran the service. An
``on_message`` that raises gets the same message again after a backoff;
after ``max_deliveries`` the message is set aside as dead and the service
goes on.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from django.db import DatabaseError, connections
from django.db.models import F
from django.utils import timezone

from django_taskflow import models
from django_taskflow.exceptions import UnknownService
from django_taskflow.models import MessageState, ServiceState
from django_taskflow.services import budget, failures, log
from django_taskflow.services.context import ServiceContext
from django_taskflow.services.definition import ServiceDefinition, load
from django_taskflow.worker.reconnect import Reconnect

logger = logging.getLogger(__name__)

# How often an idle service looks for messages: on SQLite, or while its
# host's LISTEN connection is down ...
POLL_SECONDS = 0.1
# ... and while its host listens (PostgreSQL): send() and stop() wake it at
# once, so this only covers a notification lost while the host reconnected.
LISTENING_POLL_SECONDS = 1.0
# How often it reads its state (a stop request), when nothing woke it.
STATE_CHECK_SECONDS = 0.5
MESSAGE_BATCH = 50
LIVE_STATES = (ServiceState.RUNNING, ServiceState.STOPPING)


class ServiceRunner:
    """Runs one service until it stops, fails, or its host lets it go."""

    def __init__(
        self,
        *,
        name: str,
        owner: str,
        database: str,
        may_run: Callable[[], bool],
        heartbeat_seconds: float,
        listening: Callable[[], bool] = lambda: False,
        taken_over_from: str = "",
    ) -> None:
        self.name = name
        # The owner whose lease had ended when this host claimed the service ("" if none).
        self.taken_over_from = taken_over_from
        self.owner = owner
        self.database = database
        self.may_run = may_run
        self.listening = listening
        # Set by the host when it stops or loses the lease: wakes every wait.
        self.released = threading.Event()
        # Set by the host when a message or a stop request for this service was
        # committed (``wake``), and on release: ends an idle wait.
        self.nudged = threading.Event()
        # Set once services.stop() was seen, here or by the host while a handler ran.
        self.stop_requested = threading.Event()
        # Whether a handler runs now (the host then looks for stop requests for it).
        self.in_handler = False
        self.reconnect = Reconnect(database=database, worker_id=owner, max_delay=heartbeat_seconds)
        self.failures_in_a_row = 0
        self.last_error: dict[str, Any] = {}
        self.thread = threading.Thread(target=self.run, name=f"service {name}", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def release(self) -> None:
        self.released.set()
        self.nudged.set()

    def wake(self) -> None:
        """Look for messages and the service's state now (the host heard a notification)."""
        self.nudged.set()

    def _services(self) -> Any:
        return models.Service.objects.using(self.database).filter(name=self.name)

    def _messages(self) -> Any:
        return models.ServiceMessage.objects.using(self.database).filter(service_id=self.name)

    def _record(self, kind: str, data: dict[str, Any] | None = None) -> None:
        log.record(self.database, self.name, kind, owner=self.owner, data=data)

    # -- the loop -------------------------------------------------------------

    def run(self) -> None:
        try:
            while not self.released.is_set():
                try:
                    self._run_owned()
                    return
                except DatabaseError as exc:
                    self.reconnect.lost(f"service {self.name}", exc)
        except Exception:
            logger.exception(
                "service %s: the host's runner failed",
                self.name,
                extra={"action": "service_runner_died", "service": self.name},
            )
        finally:
            connections.close_all()  # this thread's connections only

    def _run_owned(self) -> None:
        row = self._services().first()
        if row is None or row.state not in LIVE_STATES:
            return
        try:
            service_class, definition = load(row.service_path)
        except UnknownService as exc:
            error = failures.error_entry("import", exc, timezone.now())
            budget.fail_for_good(self.database, row, self.owner, error)
            return
        context = ServiceContext(
            name=self.name,
            config=row.config,
            owner=self.owner,
            database=self.database,
            stopping=self.released,
            stop_requested=self.stop_requested,
        )
        lost = budget.owner_lost(self.database, row, self.taken_over_from)
        if lost is not None:
            self.last_error = lost
            if self._restart_budget_spent(definition):
                return
        instance: Any = None
        next_try = 0.0
        next_tick = 0.0
        next_state_check = 0.0
        state: str | None = None
        while self.may_run():
            if time.monotonic() >= next_state_check:
                state = self._services().values_list("state", flat=True).first()
                next_state_check = time.monotonic() + STATE_CHECK_SECONDS
                if state not in LIVE_STATES:
                    return  # stopped or failed by someone else: nothing to do
                if state == ServiceState.STOPPING:
                    self.stop_requested.set()
                self.reconnect.succeeded()
            if instance is None and state == ServiceState.STOPPING and self.failures_in_a_row:
                self._mark_stopped(ok=True)  # it never started: nothing for on_stop to end
                return
            if instance is None:
                if time.monotonic() < next_try:
                    self.released.wait(min(POLL_SECONDS, next_try - time.monotonic()))
                    continue
                instance = self._started(service_class, context, row.config)
                if instance is None:
                    if self._restart_budget_spent(definition):
                        return
                    next_try = time.monotonic() + failures.backoff(self.failures_in_a_row)
                    continue
                if definition.tick_seconds is not None:
                    next_tick = time.monotonic() + definition.tick_seconds
            if state == ServiceState.STOPPING and not self._backlog():
                # send() refuses messages once stop() was called: those sent before are
                # all delivered (or set aside) first, so none is left behind.
                self._stop(instance, context)
                return
            handled = self._deliver(instance, context, definition)
            if definition.tick_seconds is not None and time.monotonic() >= next_tick:
                next_tick = max(next_tick + definition.tick_seconds, time.monotonic())
                if not self._call(instance, "on_tick", context):
                    instance = None
                    if self._restart_budget_spent(definition):
                        return
                    next_try = time.monotonic() + failures.backoff(self.failures_in_a_row)
                    continue
                self.failures_in_a_row = 0
                self._services().update(last_tick_at=timezone.now())
            if not handled:
                wait = LISTENING_POLL_SECONDS if self.listening() else POLL_SECONDS
                if definition.tick_seconds is not None:
                    wait = min(wait, max(0.0, next_tick - time.monotonic()))
                # A wake-up that came during the delivery above ends this wait at once.
                if self.nudged.wait(wait):
                    self.nudged.clear()
                    next_state_check = 0.0  # it may be a stop request

    # -- handlers ---------------------------------------------------------------

    def _call(self, instance: Any, handler: str, context: ServiceContext, *args: Any) -> bool:
        """Call one handler if the class has it; False (error recorded) if it raised."""
        method = getattr(instance, handler, None)
        if method is None:
            return True
        self.in_handler = True
        try:
            method(context, *args)
        except Exception as exc:
            self.last_error = failures.error_entry(handler, exc, timezone.now())
            logger.warning(
                "service %s: %s raised %s",
                self.name,
                handler,
                self.last_error["error_class"],
                extra={"action": "service_handler_failed", "service": self.name},
            )
            return False
        finally:
            self.in_handler = False
        return True

    def _started(self, service_class: type, context: ServiceContext, config: dict[str, Any]) -> Any:
        instance = service_class()
        method = getattr(instance, "on_start", None)
        if method is not None:
            self.in_handler = True
            try:
                method(context, **config)
            except Exception as exc:
                self.last_error = failures.error_entry("on_start", exc, timezone.now())
                logger.warning(
                    "service %s: on_start raised %s",
                    self.name,
                    self.last_error["error_class"],
                    extra={"action": "service_handler_failed", "service": self.name},
                )
                return None
            finally:
                self.in_handler = False
        self._services().filter(owner=self.owner).update(started_at=timezone.now())
        self._record(log.ServiceEventKind.STARTED)
        logger.info(
            "service %s started on %s",
            self.name,
            self.owner,
            extra={"action": "service_started", "service": self.name, "worker_id": self.owner},
        )
        return instance

    def _deliver(
        self, instance: Any, context: ServiceContext, definition: ServiceDefinition
    ) -> int:
        """Deliver the next messages in order; return how many were handled."""
        pending = list(
            self._messages().filter(state=MessageState.PENDING).order_by("id")[:MESSAGE_BATCH]
        )
        handled = 0
        for message in pending:
            if not self.may_run():
                break
            if message.deliveries >= definition.max_deliveries:
                # Its deliveries ran out in workers that died handling it.
                self._set_aside(message, message.deliveries, "the worker died handling it")
                handled += 1
                continue
            self._messages().filter(pk=message.pk).update(deliveries=F("deliveries") + 1)
            if self._call(instance, "on_message", context, message.body):
                self._messages().filter(pk=message.pk).delete()  # the acknowledgement
                self.failures_in_a_row = 0
                handled += 1
                continue
            deliveries = message.deliveries + 1
            error = self.last_error
            text = f"{error['error_class']}: {error['message']}"
            if deliveries >= definition.max_deliveries:
                self._services().update(errors=failures.kept_errors(self._errors(), error))
                self._set_aside(message, deliveries, text, error["traceback"])
                handled += 1
                continue
            self._messages().filter(pk=message.pk).update(last_error=error["traceback"])
            self._services().update(errors=failures.kept_errors(self._errors(), error))
            self._record(log.ServiceEventKind.ERROR, {"handler": "on_message", "error": text})
            # The same message again, after a pause that grows with its deliveries.
            self.released.wait(failures.backoff(deliveries))
            break
        return handled

    def _set_aside(
        self, message: models.ServiceMessage, deliveries: int, text: str, detail: str = ""
    ) -> None:
        """Mark a message dead: its deliveries ran out; the service goes on."""
        self._messages().filter(pk=message.pk).update(
            state=MessageState.DEAD, last_error=detail or text
        )
        self._record(
            log.ServiceEventKind.MESSAGE_DEAD,
            {"message_id": message.pk, "deliveries": deliveries, "error": text},
        )
        logger.warning(
            "service %s: message %s set aside after %d deliveries",
            self.name,
            message.pk,
            deliveries,
            extra={"action": "service_message_dead", "service": self.name},
        )

    def _backlog(self) -> bool:
        return bool(self._messages().filter(state=MessageState.PENDING).exists())

    def _errors(self) -> list[dict[str, Any]]:
        return list(self._services().values_list("errors", flat=True).first() or [])

    def _restart_budget_spent(self, definition: ServiceDefinition) -> bool:
        """Count the failure in ``last_error``; True once the budget is spent (the service failed)."""
        self.failures_in_a_row += 1
        return budget.spend(self.database, self.name, self.owner, definition, self.last_error)

    def _stop(self, instance: Any, context: ServiceContext) -> None:
        """Call on_stop once, then mark the service stopped and let it go."""
        self._mark_stopped(ok=self._call(instance, "on_stop", context))

    def _mark_stopped(self, *, ok: bool) -> None:
        changes: dict[str, Any] = {
            "state": ServiceState.STOPPED,
            "owner": "",
            "lease_expires_at": None,
            "stopped_at": timezone.now(),
        }
        if not ok:
            changes["errors"] = failures.kept_errors(self._errors(), self.last_error)
        stopped = (
            self._services().filter(owner=self.owner, state=ServiceState.STOPPING).update(**changes)
        )
        if stopped:
            self._record(log.ServiceEventKind.STOPPED)
            logger.info(
                "service %s stopped",
                self.name,
                extra={"action": "service_stopped", "service": self.name},
            )
