"""``@service``: marks a class as a long-running service, with its options.

Pure: no database. A service is stored by its import path; the host imports
it back and refuses anything that is not a class marked with ``@service``,
so no stored text is ever evaluated.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, TypeVar

from django.utils.module_loading import import_string

from django_taskflow.exceptions import InvalidService, UnknownService

ATTRIBUTE = "__taskflow_service__"
PATH_MAX_LENGTH = 300

ServiceClass = TypeVar("ServiceClass", bound=type)


@dataclass(frozen=True, slots=True, kw_only=True)
class ServiceDefinition:
    """How a service class runs: its tick and its failure budgets."""

    path: str
    # Seconds between on_tick calls; None: no ticks.
    tick_seconds: float | None = None
    max_restarts: int = 5
    restart_window_seconds: float = 600.0
    max_deliveries: int = 5


def _seconds(name: str, value: timedelta | float | None) -> float | None:
    if value is None:
        return None
    seconds = value.total_seconds() if isinstance(value, timedelta) else value
    if isinstance(seconds, bool) or not isinstance(seconds, int | float) or not seconds > 0:
        raise InvalidService(f"{name} must be a positive duration, got {value!r}.")
    return float(seconds)


def _at_least_one(name: str, value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidService(f"{name} must be a whole number of at least 1, got {value!r}.")
    return value


def service(
    *,
    tick: timedelta | float | None = None,
    max_restarts: int = 5,
    restart_window: timedelta | float = timedelta(minutes=10),
    max_deliveries: int = 5,
) -> Callable[[ServiceClass], ServiceClass]:
    """Mark a class as a service that ``services.start()`` can run.

    The class may define ``on_start(context, **config)``,
    ``on_message(context, message)``, ``on_tick(context)`` (every ``tick``)
    and ``on_stop(context)``; each is optional. ``max_restarts`` failures
    of ``on_start`` or ``on_tick`` within ``restart_window`` mark the
    service failed; a message whose ``on_message`` raises
    ``max_deliveries`` times is set aside as dead. Raises
    :class:`InvalidService` for a bad option or a class defined where it
    cannot be imported back (inside a function).
    """
    tick_seconds = _seconds("tick", tick)
    window = _seconds("restart_window", restart_window)
    assert window is not None  # noqa: S101 - restart_window has no None
    restarts = _at_least_one("max_restarts", max_restarts)
    deliveries = _at_least_one("max_deliveries", max_deliveries)

    def decorate(cls: ServiceClass) -> ServiceClass:
        if not isinstance(cls, type):
            raise InvalidService(f"@service marks a class, got {cls!r}.")
        if "<locals>" in cls.__qualname__:
            raise InvalidService(
                f"{cls.__qualname__} is defined inside a function; define services at module "
                "level so that workers can import them."
            )
        path = f"{cls.__module__}.{cls.__qualname__}"
        if len(path) > PATH_MAX_LENGTH:
            raise InvalidService(f"the import path of {path!r} is longer than {PATH_MAX_LENGTH}.")
        setattr(
            cls,
            ATTRIBUTE,
            ServiceDefinition(
                path=path,
                tick_seconds=tick_seconds,
                max_restarts=restarts,
                restart_window_seconds=window,
                max_deliveries=deliveries,
            ),
        )
        return cls

    return decorate


def definition_of(service_class: Any) -> ServiceDefinition:
    """The definition of a class marked with ``@service``; InvalidService otherwise."""
    definition = (
        getattr(service_class, ATTRIBUTE, None) if isinstance(service_class, type) else None
    )
    if not isinstance(definition, ServiceDefinition):
        raise InvalidService(f"{service_class!r} is not a class marked with @service.")
    return definition


def load(path: str) -> tuple[type, ServiceDefinition]:
    """Import a service class by its stored path; UnknownService if it is not one."""
    try:
        found = import_string(path)
    except ImportError as exc:
        raise UnknownService(f"cannot import service {path!r}: {exc}") from exc
    try:
        definition = definition_of(found)
    except InvalidService as exc:
        raise UnknownService(str(exc)) from exc
    if definition.path != path:
        raise UnknownService(f"{path!r} is an alias of {definition.path!r}, not a service.")
    return found, definition
