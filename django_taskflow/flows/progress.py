"""Move a flow forward: from its steps' states, decide and create what is due.

``forward()`` works on a ``Flow`` object the caller holds under lock (or
has not inserted yet) and saves nothing itself. It creates the task rows
of the steps that became due, in the caller's transaction, so a flow's
state and its new tasks commit together.

A flow's graph is a list of stages, each a list of positions in
``graph["steps"]``:

- ``steps``: every step must succeed (a chain's step, a group, a chord's
  members). A step that fails for good fails the flow once its siblings
  have ended; the later stages' steps become ``never_run``.
- ``items``: a batch's items; all run (at most ``concurrency`` at once),
  and the stage fails if any item failed.
- ``after``: the flow's callbacks (``on_error``; a batch's ``on_complete``,
  ``on_failure``, ``finally_``), each run once or marked ``never_run``
  according to its ``when``. Their outcomes do not change the flow's.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from datetime import datetime
from typing import Any

from django.db import connections
from django.tasks import task_backends
from django.utils import timezone

from django_taskflow import cancellation, enqueue, models
from django_taskflow.flows.steps import call_arguments, definition_for

PENDING = "pending"
QUEUED = "queued"  # its task row exists and has not ended (queued or running)
SUCCEEDED = "succeeded"
FAILED = "failed"
CANCELLED = "cancelled"
NEVER_RUN = "never_run"
ENDED = frozenset({SUCCEEDED, FAILED, CANCELLED, NEVER_RUN})
FAILURES = frozenset({FAILED, CANCELLED})


def forward(flow: models.Flow, database: str, now: datetime) -> bool:
    """Start what is due and settle what has ended; True if the flow just finished."""
    stages: list[dict[str, Any]] = flow.graph["stages"]
    while True:
        stage = stages[flow.stage]
        positions: list[int] = stage["positions"]
        states = [flow.steps[position] for position in positions]
        open_count = sum(state["state"] == QUEUED for state in states)
        if stage["kind"] == "after":
            _start(flow, [p for p in positions if flow.steps[p]["state"] == PENDING], database)
            if any(flow.steps[p]["state"] == QUEUED for p in positions):
                return False
            _finish(flow, now)
            return True
        if flow.deadline is not None and now >= flow.deadline:
            _stop_open(flow, database, positions, "the flow's deadline passed", now)
            _fail(flow, f"the flow's deadline ({flow.deadline.isoformat()}) passed")
            continue
        failures = [p for p in positions if flow.steps[p]["state"] in FAILURES]
        if stage["kind"] == "steps" and failures:
            if open_count:
                return False  # its siblings finish first; their results are kept
            _fail(flow, _failure_text(flow, failures[0]))
            continue
        pending = [p for p in positions if flow.steps[p]["state"] == PENDING]
        concurrency = stage.get("concurrency")
        room = len(pending) if concurrency is None else max(0, concurrency - open_count)
        _start(flow, pending[:room], database)
        if any(flow.steps[p]["state"] in (PENDING, QUEUED) for p in positions):
            return False
        if failures:
            _fail(flow, f"{len(failures)} of {len(positions)} items failed")
            continue
        flow.result = stage_result(flow, flow.stage)
        if flow.stage + 1 < len(stages) and stages[flow.stage + 1]["kind"] != "after":
            flow.stage += 1
        else:
            _to_after_stage(flow)


def stage_result(flow: models.Flow, index: int) -> Any:
    """What the stage ``index`` passes on: one step's result, or a list in order."""
    stage = flow.graph["stages"][index]
    positions = stage["positions"]
    if stage["kind"] == "items":
        return [item_outcome(flow.steps[p]) for p in positions]
    if len(positions) == 1:
        return flow.steps[positions[0]].get("result")
    return [flow.steps[p].get("result") for p in positions]


def item_outcome(state: dict[str, Any]) -> dict[str, Any]:
    """One batch item's outcome, as its batch's result lists it."""
    outcome: dict[str, Any] = {"status": state["state"]}
    if state["state"] == SUCCEEDED:
        outcome["result"] = state.get("result")
    elif state.get("error"):
        outcome["error"] = state["error"]
    return outcome


def _failure_text(flow: models.Flow, position: int) -> str:
    state = flow.steps[position]
    step = flow.graph["steps"][position]
    text = f"step {position} ({step['task']}) {state['state']}"
    return f"{text}: {state['error']}" if state.get("error") else text


def _fail(flow: models.Flow, error: str) -> None:
    """The flow failed: later stages never run; on to its callbacks."""
    flow.error = error
    if flow.graph["stages"][flow.stage]["kind"] == "items":
        flow.result = stage_result(flow, flow.stage)
    _to_after_stage(flow)


def _to_after_stage(flow: models.Flow) -> None:
    stages = flow.graph["stages"]
    for stage in stages:
        if stage["kind"] == "after":
            continue
        for position in stage["positions"]:
            if flow.steps[position]["state"] == PENDING:
                flow.steps[position] = {"state": NEVER_RUN}
    # Every graph ends with its "after" stage (empty when it has no callbacks).
    outcome = FAILED if flow.error else SUCCEEDED
    for position in stages[-1]["positions"]:
        when = flow.graph["steps"][position].get("when", "always")
        if when not in ("always", outcome):
            flow.steps[position] = {"state": NEVER_RUN}
    flow.stage = len(stages) - 1


def _finish(flow: models.Flow, now: datetime) -> None:
    flow.status = models.FlowStatus.FAILED if flow.error else models.FlowStatus.SUCCEEDED
    flow.finished_at = now


def _after_previous(flow: models.Flow) -> Any:
    """What a callback given ``previous=`` gets: a batch's outcomes, a chain's error."""
    if flow.kind == "batch":
        return flow.result
    return {"error": flow.error} if flow.error else {"result": flow.result}


def _start(flow: models.Flow, positions: list[int], database: str) -> None:
    """Create the task rows of ``positions``: one insert per distinct task and options."""
    if not positions:
        return
    stage = flow.graph["stages"][flow.stage]
    if stage["kind"] == "after":
        previous = _after_previous(flow)
    else:
        previous = stage_result(flow, flow.stage - 1) if flow.stage else None
    backend = task_backends[flow.backend]
    flow_db_id = models.Flow._meta.pk.get_db_prep_value(flow.id, connections[database])
    by_definition: dict[str, list[int]] = defaultdict(list)
    steps = flow.graph["steps"]
    for position in positions:
        step = steps[position]
        by_definition[repr((step["task"], sorted(step.get("options", {}).items())))].append(
            position
        )
    for group in by_definition.values():
        definition = definition_for(steps[group[0]], flow.options)
        calls = [
            call_arguments(
                steps[p]["args"], steps[p]["kwargs"], steps[p].get("passing", "none"), previous
            )
            for p in group
        ]
        snapshots = enqueue.insert_steps(
            backend,  # type: ignore[arg-type]
            definition,
            calls,
            [(flow_db_id, p) for p in group],
            # The claim compares run_after with the real clock, whatever
            # ``now`` the caller decided by.
            timezone.now(),
        )
        for position, snapshot in zip(group, snapshots, strict=True):
            flow.steps[position] = {"state": QUEUED, "task": snapshot.id}


def _stop_open(
    flow: models.Flow, database: str, positions: list[int], reason: str, now: datetime
) -> None:
    """Cancel the open steps' tasks (queued ones at once, running ones asked to stop)."""
    ids = [flow.steps[p]["task"] for p in positions if flow.steps[p]["state"] == QUEUED]
    if ids:
        cancellation.cancel(
            database, [uuid.UUID(task_id) for task_id in ids], by="flow", reason=reason, now=now
        )
    for position in positions:
        if flow.steps[position]["state"] == QUEUED:
            flow.steps[position] = {**flow.steps[position], "state": CANCELLED}
