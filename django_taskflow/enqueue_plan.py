"""What every enqueue of one definition shares, worked out once per backend.

Before a row can be written, the definition is validated, its options are
resolved against the backend's defaults (retry policy, attempts, time
limits), the constant columns are JSON-encoded and its argument writer is
chosen. None of that changes between two enqueues of the same definition
on the same backend, yet it cost a one-by-one enqueue about a third of its
Python time. A :class:`Plan` holds the result; the backend keeps one per
definition it has enqueued (``plan_for``), and a new backend (a changed
``TASKS`` setting) starts with none.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from types import ModuleType
from typing import TYPE_CHECKING, Any

from django.db import connections
from django.tasks import Task

from django_taskflow import invocation, limits
from django_taskflow.db import CONSTANT_COLUMNS, VARYING_COLUMNS, dialect_for
from django_taskflow.encoding import arguments as stored_arguments
from django_taskflow.encoding import calls as typed_calls
from django_taskflow.policies import DEFAULT_RETRY_POLICY
from django_taskflow.states import OnLost, Status

if TYPE_CHECKING:
    from django_taskflow.backend import TaskflowBackend

# A program that derives definitions on the fly (``using()`` per call) must
# not grow the cache without end: past this many, it starts again.
MAX_PLANS = 512

# A flow's step: its flow's id and its position (flows/).
FLOW_COLUMNS = ("flow_id", "flow_position")


@dataclass(frozen=True, slots=True, kw_only=True)
class Plan:
    """How the rows of one definition are written by one backend.

    A row is ``(id, args, kwargs, run_after, enqueued_at, *gate, *flow,
    *constants)``, in the order of ``columns`` (or ``flow_columns`` for a
    flow's steps).
    """

    definition: Task[Any, Any]
    database: str
    dialect: ModuleType
    writer: stored_arguments.ArgumentWriter
    # Raises the TypeError a direct call would for arguments that do not fit.
    check_arguments: Callable[[Sequence[Any], Mapping[str, Any]], None]
    # Whether a parameter has a type the writer turns into JSON (``as_json``).
    has_typed_arguments: bool
    # The values of CONSTANT_COLUMNS, then the encoding when rows write one.
    constants: tuple[Any, ...]
    columns: tuple[str, ...]
    flow_columns: tuple[str, ...]
    concurrency: limits.Concurrency | None
    rate_limit: limits.RateLimit | None
    # Whether ``dedup`` or ``unique`` sends the rows through enqueue_dedup.
    is_deduplicated: bool
    # Whether the database stores a UUID as such (else as 32 hex digits).
    has_native_uuid: bool

    @property
    def is_gated(self) -> bool:
        return self.concurrency is not None or self.rate_limit is not None

    def gate(self, args: Any, kwargs: Any) -> tuple[Any, ...]:
        """The gate's columns for one call of a limited task (``()`` for any other)."""
        if not self.is_gated:
            return ()
        definition = self.definition
        gate = limits.gate_for(
            task_path=definition.module_path,
            func=definition.func,
            takes_context=definition.takes_context,
            concurrency=self.concurrency,
            rate_limit=self.rate_limit,
            args=args,
            kwargs=kwargs,
        )
        return gate.as_row() if gate is not None else ()


def plan_for(backend: TaskflowBackend, definition: Task[Any, Any]) -> Plan:
    """Return the backend's plan for ``definition``, making it the first time.

    Making one validates the definition (``validate_task``) and checks that
    the worker can import it; each raises as an enqueue of it would.
    """
    plans = backend.plans
    plan = plans.get(id(definition))
    # The plan holds its definition, so the id cannot name another one meanwhile.
    if plan is not None and plan.definition is definition:
        return plan
    backend.validate_task(definition)
    invocation.check_importable(definition)
    plan = _make(backend, definition)
    if len(plans) >= MAX_PLANS:
        plans.clear()
    plans[id(definition)] = plan
    return plan


def _make(backend: TaskflowBackend, definition: Task[Any, Any]) -> Plan:
    config = backend.config
    policy = getattr(definition, "retry", None) or config.retry_policy or DEFAULT_RETRY_POLICY
    timeout = getattr(definition, "timeout", None) or config.default_timeout
    writer = stored_arguments.writer_for(
        definition, config.max_payload_bytes, config.encryption_keys
    )
    constants = {
        "task_path": definition.module_path,
        "backend": backend.alias,
        "queue_name": definition.queue_name,
        "priority": definition.priority,
        "status": Status.QUEUED.value,
        "key": getattr(definition, "key", None),
        "tags": json.dumps(list(getattr(definition, "tags", ()))),
        "attempts": 0,
        "max_attempts": (
            getattr(definition, "max_attempts", None) or policy.max_attempts or config.max_attempts
        ),
        "retry_policy": json.dumps(policy.to_json()),
        "timeout_soft": timeout.soft if timeout else None,
        "timeout_hard": timeout.hard if timeout else None,
        "progress_detail": "{}",
        "on_lost": getattr(definition, "on_lost", OnLost.REQUEUE),
        "requires": _requires_json(getattr(definition, "requires", ())),
    }
    # Only rows stored other than as plain JSON of the first version write it.
    encoding = () if writer.column is None else (writer.column,)
    concurrency = getattr(definition, "concurrency", None)
    rate_limit = getattr(definition, "rate_limit", None)
    # Only limited tasks write the gate's columns; every other row leaves
    # them NULL, as the plain claim expects.
    gate = limits.GATE_COLUMNS if concurrency is not None or rate_limit is not None else ()
    tail = (*CONSTANT_COLUMNS, *(("encoding",) if encoding else ()))
    connection = connections[config.database]
    return Plan(
        definition=definition,
        database=config.database,
        dialect=dialect_for(config.database),
        writer=writer,
        check_arguments=invocation.argument_check(definition),
        has_typed_arguments=typed_calls.has_typed_arguments(
            definition.func, definition.takes_context
        ),
        constants=(*(constants[column] for column in CONSTANT_COLUMNS), *encoding),
        columns=(*VARYING_COLUMNS, *gate, *tail),
        flow_columns=(*VARYING_COLUMNS, *gate, *FLOW_COLUMNS, *tail),
        concurrency=concurrency,
        rate_limit=rate_limit,
        is_deduplicated=(
            getattr(definition, "dedup", None) is not None or getattr(definition, "unique", False)
        ),
        has_native_uuid=connection.features.has_native_uuid_field,
    )


def _requires_json(requires: Iterable[str]) -> str | None:
    # None (NULL) for a task that requires nothing.
    return json.dumps(sorted(set(requires))) if requires else None
