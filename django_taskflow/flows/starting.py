"""Store a new flow and enqueue its first steps, in one transaction."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.tasks import task_backends
from django.utils import timezone

from django_taskflow import enqueue, invocation, models
from django_taskflow.exceptions import InvalidTaskOptions, StepArgumentsMismatch
from django_taskflow.flows import advance, progress
from django_taskflow.flows.handle import BatchResult, FlowResult
from django_taskflow.flows.steps import Passing, Step, names_previous, refuse_encrypted


def _backend(steps: Sequence[Step]) -> Any:
    aliases = {step.definition.backend for step in steps}
    if len(aliases) != 1:
        raise InvalidTaskOptions(
            f"All steps of a flow must use one backend, got {', '.join(sorted(aliases))}."
        )
    backend = task_backends[aliases.pop()]
    if getattr(backend, "config", None) is None:
        raise InvalidTaskOptions(
            f"Flows need a django_taskflow backend; {backend.alias!r} is {type(backend).__name__}."
        )
    return backend


def _deadline(deadline: timedelta | datetime | None, now: datetime) -> datetime | None:
    if deadline is None or isinstance(deadline, datetime):
        if isinstance(deadline, datetime) and timezone.is_naive(deadline):
            raise InvalidTaskOptions(f"deadline must be an aware datetime, got {deadline!r}.")
        return deadline
    if not isinstance(deadline, timedelta) or deadline <= timedelta(0):
        raise InvalidTaskOptions(
            f"deadline must be a positive timedelta or an aware datetime, got {deadline!r}."
        )
    return now + deadline


def _after_step(step: Step, when: str, max_bytes: int) -> dict[str, Any]:
    """A callback: given ``previous=`` only if its function names it."""
    receives = names_previous(step.definition.func)
    step.check(receives, max_bytes)
    return {**step.to_json(step.passing(receives)), "when": when}


def start_chain(
    stages: Sequence[Sequence[Step]],
    *,
    on_error: Step | None,
    options: dict[str, Any],
    tags: Sequence[str],
    deadline: timedelta | datetime | None,
) -> FlowResult:
    """Check every step, then store the flow and enqueue its first stage."""
    every = [step for stage in stages for step in stage]
    backend = _backend([*every, *([on_error] if on_error else [])])
    max_bytes = backend.config.max_payload_bytes
    steps: list[dict[str, Any]] = []
    graph_stages: list[dict[str, Any]] = []
    for index, stage in enumerate(stages):
        positions = []
        for step in stage:
            step.check(index > 0, max_bytes)
            positions.append(len(steps))
            steps.append(step.to_json(step.passing(index > 0)))
        graph_stages.append({"kind": "steps", "positions": positions})
    after = []
    if on_error is not None:
        after.append(len(steps))
        steps.append(_after_step(on_error, "failed", max_bytes))
    graph_stages.append({"kind": "after", "positions": after})
    flow = create(
        "chain", backend, {"steps": steps, "stages": graph_stages}, options, tags, deadline
    )
    return FlowResult.from_flow(flow)


def start_batch(
    step: Step,
    items: Sequence[Any],
    *,
    callbacks: Mapping[str, Step | None],
    concurrency: int | None,
    options: dict[str, Any],
    tags: Sequence[str],
    deadline: timedelta | datetime | None,
) -> BatchResult:
    """Check every item's arguments, then store the batch and enqueue its items."""
    if concurrency is not None and (
        isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1
    ):
        raise InvalidTaskOptions(f"concurrency must be None or at least 1, got {concurrency!r}.")
    backend = _backend([step, *(c for c in callbacks.values() if c is not None)])
    max_bytes = backend.config.max_payload_bytes
    refuse_encrypted(step.definition)  # its items are checked one by one, not by step.check()
    template = step.to_json(Passing.NONE)
    steps: list[dict[str, Any]] = []
    for item in items:
        args, kwargs = enqueue.split_call(item)
        args, kwargs = [*step.args, *args], {**step.kwargs, **kwargs}
        try:
            invocation.bind_arguments(step.definition, args, kwargs)
        except TypeError as exc:
            raise StepArgumentsMismatch(
                f"Item {len(steps)} of the batch cannot be passed to {step.task_path}: {exc}"
            ) from None
        # Their JSON is checked as the rows are built, in the same transaction.
        steps.append({**template, "args": args, "kwargs": kwargs})
    if not steps:
        raise InvalidTaskOptions("A batch needs at least one item.")
    invocation.check_importable(step.definition)
    positions = list(range(len(steps)))
    after = []
    for when, callback in callbacks.items():
        if callback is not None:
            after.append(len(steps))
            steps.append(_after_step(callback, when, max_bytes))
    graph = {
        "steps": steps,
        "stages": [
            {"kind": "items", "positions": positions, "concurrency": concurrency},
            {"kind": "after", "positions": after},
        ],
    }
    flow = create("batch", backend, graph, options, tags, deadline)
    return BatchResult.from_flow(flow)


def create(
    kind: str,
    backend: Any,
    graph: dict[str, Any],
    options: dict[str, Any],
    tags: Sequence[str],
    deadline: timedelta | datetime | None,
    *,
    parent_task: Any = None,
) -> models.Flow:
    """Store a flow and enqueue its first steps, in one transaction."""
    now = timezone.now()
    database = backend.config.database
    tags = list(tags)
    if tags:
        options = {**options, "tags": tags}
    flow = models.Flow(
        kind=kind,
        backend=backend.alias,
        graph=graph,
        steps=[{"state": progress.PENDING} for _ in graph["steps"]],
        options=options,
        tags=tags,
        deadline=_deadline(deadline, now),
        created_at=now,
        advanced_at=now,
        parent_task=parent_task,
    )
    # The steps' rows first, then the flow's: the foreign key is checked at
    # commit, and the flow is written once, with its steps' task ids.
    with transaction.atomic(using=database):
        finished = progress.forward(flow, database, now)
        flow.save(using=database, force_insert=True)
        if finished:
            advance.announce(database, flow)
    return flow
