"""``services.start/send/status/stop/restart/events``: the callers' side of services.

Each function reads or writes the service's rows and returns; the workers'
service hosts (``worker/service_host.py``) do the running. Every function
has an async twin with an ``a`` prefix.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import IntegrityError, connections, transaction
from django.db.models import Count, Q, QuerySet
from django.tasks import task_backends

from django_taskflow import models
from django_taskflow.db import dialect_for
from django_taskflow.exceptions import ServiceConflict, ServiceNotRunning, UnknownService
from django_taskflow.models import MessageState, ServiceState
from django_taskflow.operations.twins import async_twin
from django_taskflow.services import log
from django_taskflow.services.checks import checked_json, checked_name, is_addressable
from django_taskflow.services.definition import definition_of, load
from django_taskflow.services.log import ServiceEventRecord, ServiceEventStream

LIVE_STATES = (ServiceState.RUNNING, ServiceState.STOPPING)


@dataclass(frozen=True, slots=True, kw_only=True)
class ServiceStatus:
    """A service as stored: state, config, owner, last tick, backlog, restarts, errors."""

    name: str
    service_path: str
    state: str
    config: dict[str, Any]
    owner: str
    lease_expires_at: datetime | None
    started_at: datetime | None
    last_tick_at: datetime | None
    stopped_at: datetime | None
    backlog: int
    dead_messages: int
    restarts: int
    errors: list[dict[str, Any]]


def database() -> str:
    """Where services live: the default task backend's database."""
    config = getattr(task_backends["default"], "config", None)
    return str(config.database) if config is not None else "default"


def with_counts(services: QuerySet[models.Service]) -> QuerySet[models.Service]:
    """``services`` with their backlog (``pending_count``) and ``dead_count``, in the same query."""
    return services.annotate(
        pending_count=Count("messages", filter=Q(messages__state=MessageState.PENDING)),
        dead_count=Count("messages", filter=Q(messages__state=MessageState.DEAD)),
    )


def find(state: str | None = None) -> QuerySet[models.Service]:
    """Every service (or those in ``state``) by name, with their message counts."""
    services = models.Service.objects.using(database()).order_by("name")
    if state is not None:
        services = services.filter(state=state)
    return with_counts(services)


def recent_event_rows(name: str, limit: int = 20) -> list[models.ServiceEvent]:
    """The service's latest ``limit`` event rows, oldest first."""
    rows = models.ServiceEvent.objects.using(database()).filter(service_id=name)
    return list(reversed(rows.order_by("-id")[:limit]))


def recent_events(name: str, limit: int = 20) -> list[ServiceEventRecord]:
    """The service's latest ``limit`` events, oldest first."""
    return [log.record_of(row) for row in recent_event_rows(name, limit)]


def status_of(row: models.Service, using: str | None = None) -> ServiceStatus:
    """The status of a row read (its counts are queried unless ``with_counts`` gave them)."""
    using = using or database()
    messages = models.ServiceMessage.objects.using(using).filter(service_id=row.name)
    backlog = getattr(row, "pending_count", None)
    dead = getattr(row, "dead_count", None)
    return ServiceStatus(
        name=row.name,
        service_path=row.service_path,
        state=str(row.state),
        config=row.config,
        owner=row.owner,
        lease_expires_at=row.lease_expires_at,
        started_at=row.started_at,
        last_tick_at=row.last_tick_at,
        stopped_at=row.stopped_at,
        backlog=messages.filter(state=MessageState.PENDING).count() if backlog is None else backlog,
        dead_messages=messages.filter(state=MessageState.DEAD).count() if dead is None else dead,
        restarts=row.restarts,
        errors=list(row.errors),
    )


def _wake(using: str, name: str) -> None:
    """Wake the host that owns ``name`` (``""``: any host with room) once this commits."""
    with connections[using].cursor() as cursor:
        dialect_for(using).notify_service(cursor, name)


def _unknown(name: object) -> UnknownService:
    return UnknownService(f"no service named {name!r} was started.")


def _row(name: str, using: str) -> models.Service:
    if not is_addressable(name):
        raise _unknown(name)  # no service has such a name: asking the database could fail
    try:
        return models.Service.objects.using(using).get(name=name)
    except models.Service.DoesNotExist:
        raise _unknown(name) from None


def _locked_or_created(name: str, path: str, config: dict[str, Any], using: str) -> models.Service:
    """The row of ``name``, locked; created (running ``path`` with ``config``) if there is none."""
    services = models.Service.objects.using(using)
    row = services.select_for_update().filter(name=name).first()
    if row is not None:
        return row
    try:
        with transaction.atomic(using=using):
            return services.create(name=name, service_path=path, config=config)
    except IntegrityError:
        # Another start() of this name committed first: go on with its row.
        return services.select_for_update().get(name=name)


def start(name: str, service: type | str, /, **config: Any) -> ServiceStatus:
    """Start service ``name`` running the ``@service`` class ``service`` with ``config``.

    A worker with ``--services`` takes it and calls ``on_start(context,
    **config)``. Starting a name that runs with the same class and config
    returns its status; with another, raises :class:`ServiceConflict`. A
    stopped or failed service starts afresh. Raises :class:`InvalidService`
    or :class:`UnserializablePayload` for bad input, writing nothing.
    """
    checked_name(name)
    path = load(service)[1].path if isinstance(service, str) else definition_of(service).path
    checked_json(config, "the service's config")
    using = database()
    with transaction.atomic(using=using):
        row = _locked_or_created(name, path, config, using)
        if row.state in LIVE_STATES:
            if row.service_path != path or row.config != config:
                raise ServiceConflict(
                    f"service {name!r} already runs {row.service_path} with config "
                    f"{row.config!r}; stop it first to start {path} with {config!r}."
                )
        else:
            row.service_path, row.config, row.state = path, config, ServiceState.RUNNING
            row.owner, row.lease_expires_at = "", None
            row.started_at = row.stopped_at = None
            row.restarts, row.restart_times, row.errors = 0, [], []
            row.save(using=using)
        if not row.owner:
            _wake(using, "")
    return status_of(row, using)


def send(name: str, message: Any) -> int:
    """Queue ``message`` (any JSON value) for the service's ``on_message``; return its id.

    Raises :class:`UnknownService`, :class:`ServiceNotRunning` for a service
    that is stopping, stopped or failed, and :class:`UnserializablePayload`.
    """
    checked_json(message, "the message")
    using = database()
    if not is_addressable(name):
        raise _unknown(name)
    with transaction.atomic(using=using):
        row = models.Service.objects.using(using).select_for_update().filter(name=name).first()
        if row is None:
            raise _unknown(name)
        if row.state != ServiceState.RUNNING:
            raise ServiceNotRunning(f"service {name!r} is {row.state}: it takes no messages.")
        created = models.ServiceMessage.objects.using(using).create(service=row, body=message)
        _wake(using, name)
    return int(created.pk)


def status(name: str) -> ServiceStatus:
    """The service's state, owner, backlog, restarts and errors; UnknownService if none."""
    using = database()
    return status_of(_row(name, using), using)


def stop(name: str) -> ServiceStatus:
    """Ask the service to stop: its owner calls ``on_stop`` once, then it is ``stopped``.

    A service already stopped or failed is left as it is.
    """
    using = database()
    if not is_addressable(name):
        raise _unknown(name)
    with transaction.atomic(using=using):
        asked = (
            models.Service.objects.using(using)
            .filter(name=name, state=ServiceState.RUNNING)
            .update(state=ServiceState.STOPPING)
        )
        if asked:
            _wake(using, name)
    return status_of(_row(name, using), using)


def restart(name: str) -> ServiceStatus:
    """Start a stopped or failed service again with its stored class and config.

    Raises :class:`ServiceConflict` for one that is still running or stopping.
    """
    using = database()
    row = _row(name, using)
    if row.state in LIVE_STATES:
        raise ServiceConflict(f"service {name!r} is {row.state}; stop it before restarting it.")
    return start(name, row.service_path, **row.config)


def events(
    name: str,
    *,
    kinds: Sequence[str] | None = None,
    after: int | None = None,
    follow: bool = True,
    timeout: float | None = None,
) -> ServiceEventStream:
    """Follow the service's events (``emitted`` ones carry ``context.emit()``'s data).

    ``after``: an event id (0: from the first; ``None``: only new ones).
    """
    return ServiceEventStream(
        service=name,
        kinds=kinds,
        after=after,
        follow=follow,
        timeout=timeout,
        database=database(),
    )


astart = async_twin(start)
asend = async_twin(send)
astatus = async_twin(status)
astop = async_twin(stop)
arestart = async_twin(restart)
