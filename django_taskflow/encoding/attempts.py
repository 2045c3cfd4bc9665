"""An encrypted task's per-attempt texts: its error, traceback, rejected value and progress.

Sealed in the worker before they are written, bound to the task, the
attempt and the field, so that the Attempt, Event and Task rows hold no
plaintext of them.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from django_taskflow.claim import ClaimedTask
from django_taskflow.encoding import fields, stored
from django_taskflow.encoding.keys import EncryptionKey, Keyring
from django_taskflow.execution import outcome as outcomes
from django_taskflow.execution.outcome import Outcome

ERROR_VALUE = "error value"


def seal_outcome(outcome: Outcome, task: ClaimedTask, keys: tuple[EncryptionKey, ...]) -> Outcome:
    """``outcome`` with its error texts sealed, if ``task`` is encrypted."""
    encoding = stored.read(task.encoding)
    if encoding.key_id is None or not (outcome.error_message or outcome.traceback):
        return outcome
    if outcome.error_class in fields.PLAIN_ERRORS:
        return outcome
    keyring = Keyring(keys)

    def sealed(text: str, field: str) -> str:
        return fields.seal_text(text, encoding, keyring, fields.Place(task.id, field, task.attempt))

    value = outcome.error_value_json
    return dataclasses.replace(
        outcome,
        error_message=sealed(outcome.error_message, fields.ERROR_MESSAGE),
        traceback=sealed(outcome.traceback, fields.TRACEBACK),
        error_value_json=None if value is None else json.dumps(sealed(value, ERROR_VALUE)),
    )


def loggable_error(task: ClaimedTask, exc: BaseException) -> str:
    """``exc`` as a log line may show it: an encrypted task's own errors (an
    ``upgrade`` that raised, a typed value that does not fit) may quote its
    decrypted arguments, so only their class is shown."""
    text = outcomes.describe(exc)
    if task.encoding is None or stored.read(task.encoding).key_id is None:
        return text
    if outcomes.class_path(exc) in fields.PLAIN_ERRORS:
        return text
    return f"{type(exc).__name__}: {fields.REDACTED}"


def seal_progress(
    task: ClaimedTask, detail: dict[str, Any], keys: tuple[EncryptionKey, ...]
) -> dict[str, Any]:
    """Progress details as an encrypted task stores them: ``{"sealed": ...}``."""
    encoding = stored.read(task.encoding)
    if encoding.key_id is None or not detail:
        return detail
    place = fields.Place(task.id, fields.PROGRESS, task.attempt)
    return {"sealed": fields.seal(json.dumps(detail), encoding, Keyring(keys), place)}


def progress_note(
    task: ClaimedTask,
    fraction: float,
    detail: dict[str, Any],
    message: str | None,
    keys: tuple[EncryptionKey, ...],
) -> dict[str, Any]:
    """The data of a progress event as the task's row may hold it.

    An encrypted task's message is sealed with its detail: never stored,
    nor sent live, in the clear. "[encrypted]" stands in its place, for the
    dashboard, the websocket and the logs.
    """
    if task.encoding is not None:
        plain = detail if message is None else {**detail, "message": message}
        sealed = seal_progress(task, plain, keys)
        if sealed is not plain:
            detail = sealed
            message = None if message is None else fields.REDACTED
    data: dict[str, Any] = {"progress": fraction, "detail": detail}
    if message is not None:
        data["message"] = message
    return data
