"""Cancel and resume flows."""

from __future__ import annotations

import logging
import uuid
from typing import TYPE_CHECKING, Any

from django.core.exceptions import ValidationError

from django_taskflow import models, queries
from django_taskflow.exceptions import ResultNotFound
from django_taskflow.flows import control
from django_taskflow.operations.inputs import operator_name, reason_text
from django_taskflow.operations.twins import async_twin

if TYPE_CHECKING:
    from django_taskflow.flows.handle import FlowResult

logger = logging.getLogger(__name__)


def _flow_id(database: str, flow: FlowResult | str | uuid.UUID) -> uuid.UUID:
    flow_id: Any = getattr(flow, "id", flow)
    try:
        return models.Flow.objects.using(database).values_list("id", flat=True).get(pk=flow_id)
    except (models.Flow.DoesNotExist, ValidationError, ValueError) as exc:
        raise ResultNotFound(f"No flow with id {flow_id!r}.") from exc


def cancel_flow(
    flow: FlowResult | str | uuid.UUID,
    *,
    reason: str = "",
    by: Any = None,
    backend: str = "default",
) -> bool:
    """Cancel a running flow; return False if it had already ended.

    Its steps not yet due never run; its queued steps are cancelled and its
    running ones asked to stop, as :func:`cancel` does for a task. Raises
    :class:`ResultNotFound` for an id that names no flow.
    """
    database = queries.database_for(backend)
    return control.cancel(
        database, _flow_id(database, flow), by=operator_name(by), reason=reason_text(reason)
    )


def resume_flow(flow: FlowResult | str | uuid.UUID, *, backend: str = "default") -> None:
    """Run a failed flow again from its failed step, keeping earlier results.

    Raises :class:`InvalidFlowOperation` unless the flow has failed, and
    :class:`ResultNotFound` for an id that names no flow.
    """
    backend = getattr(flow, "backend", backend)
    database = queries.database_for(backend)
    control.resume(database, _flow_id(database, flow))


acancel_flow = async_twin(cancel_flow)
aresume_flow = async_twin(resume_flow)

# What users write: ``from django_taskflow import resume``; ``resume(run)``.
resume = resume_flow
aresume = aresume_flow
