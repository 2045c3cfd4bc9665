"""The events of the worker's recorded batches: their rows, and their objects if announced.

Each note and each outcome of a batch becomes an ``Event`` row, written by
the dialect's ``record`` with the outcomes (``transitions``). The
``TaskEvent`` objects that announce them are built only when someone hears
them (a receiver of their signal, hooks included, or the channel layer):
most workers have none, and the objects cost more than the rows.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import TYPE_CHECKING, Any

from django_taskflow import events
from django_taskflow.claim import ClaimedTask
from django_taskflow.execution.outcome import Outcome
from django_taskflow.live import outbox as live_outbox
from django_taskflow.models import EventKind
from django_taskflow.states import AttemptOutcome

if TYPE_CHECKING:
    from django_taskflow.transitions import Completion, Note


def outcome_data(outcome: Outcome) -> dict[str, Any]:
    """The data of the event that announces ``outcome``."""
    data: dict[str, Any] = {}
    if outcome.error_class:
        data = {"error_class": outcome.error_class, "error_message": outcome.error_message}
        if outcome.error_value_json is not None:
            data["error_value"] = json.loads(outcome.error_value_json)
        if outcome.attempt_outcome != AttemptOutcome.FAILED:
            data["outcome"] = outcome.attempt_outcome.value
    if outcome.retry_at is not None:
        data["retry_at"] = outcome.retry_at.isoformat()
    return data


def outcome_event(
    completion: Completion, database: str, data: dict[str, Any] | None = None
) -> events.TaskEvent:
    """The event that announces ``completion``'s outcome (``data``: its data, if built already)."""
    outcome = completion.outcome
    result_json = outcome.result_json
    return _event(
        completion.task,
        EventKind(outcome.event_kind),
        completion.finished_at,
        outcome_data(outcome) if data is None else data,
        database,
        result=None if result_json is None or result_json == "null" else json.loads(result_json),
    )


def note_event(note: Note, database: str) -> events.TaskEvent:
    return _event(note.task, note.kind, note.at, note.data, database)


def _event(
    task: ClaimedTask,
    kind: EventKind,
    at: datetime,
    data: dict[str, Any],
    database: str,
    result: Any = None,
) -> events.TaskEvent:
    return events.TaskEvent(
        id=None,
        task_id=str(task.id),
        task_name=task.task_path,
        key=task.key,
        tags=task.tags,
        kind=kind,
        attempt=task.attempt,
        created_at=at,
        data=data,
        result=result,
        database=database,
        encoding=task.encoding,
        backend=task.backend,
    )


def event_row(
    connection: Any,
    db_id: Any,
    kind: str,
    attempt: int,
    at: datetime,
    data: dict[str, Any],
    *,
    outcome: bool,
) -> tuple[Any, ...]:
    """An event as ``record`` takes it; ``outcome``: written only if its task's outcome is."""
    return (
        db_id,
        kind,
        attempt,
        connection.ops.adapt_datetimefield_value(at),
        json.dumps(data) if data else "{}",
        outcome,
    )


def are_announced() -> bool:
    """Whether announcing an event reaches anyone: a receiver of its signal
    (hooks are receivers) or the channel layer. Else the worker builds no
    event objects, only their rows."""
    return live_outbox.carried_by_channel_layer() or any(
        signal.receivers for signal in events.KIND_SIGNALS.values()
    )
