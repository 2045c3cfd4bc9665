"""Steering services: the admin's stop and restart."""

from __future__ import annotations

import logging
from typing import Any

from django_taskflow.operations.inputs import operator_name
from django_taskflow.operations.twins import async_twin
from django_taskflow.services import api

logger = logging.getLogger(__name__)


def stop_service(name: str, *, by: Any = None) -> api.ServiceStatus:
    """Ask service ``name`` to stop (its owner runs ``on_stop`` once); return its status.

    Raises :class:`UnknownService` for a name no service has.
    """
    status = api.stop(name)
    logger.info(
        "service %s stop requested by %s",
        name,
        operator_name(by) or "an operator",
        extra={"action": "service_stop_requested", "service": name},
    )
    return status


def restart_service(name: str, *, by: Any = None) -> api.ServiceStatus:
    """Start a stopped or failed service again with its stored config; return its status.

    Raises :class:`ServiceConflict` for a service still running or stopping.
    """
    status = api.restart(name)
    logger.info(
        "service %s restarted by %s",
        name,
        operator_name(by) or "an operator",
        extra={"action": "service_restarted", "service": name},
    )
    return status


astop_service = async_twin(stop_service)
arestart_service = async_twin(restart_service)
