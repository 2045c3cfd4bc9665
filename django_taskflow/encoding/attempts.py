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
from django_taskflow.execution.outcome import Outcome

ERROR_VALUE = "error value"

# Errors of ours about reading the stored payload: they hold none of it, and
# must stay readable to say what went wrong (a tampered row, a missing encoder).
_PLAIN_ERRORS = frozenset(
    f"django_taskflow.exceptions.{name}"
    for name in (
        "TamperedPayload",
        "UnknownEncoding",
        "PayloadVersionError",
        "MissingEncryptionKey",
    )
)


def seal_outcome(outcome: Outcome, task: ClaimedTask, keys: tuple[EncryptionKey, ...]) -> Outcome:
    """``outcome`` with its error texts sealed, if ``task`` is encrypted."""
    encoding = stored.read(task.encoding)
    if encoding.key_id is None or not (outcome.error_message or outcome.traceback):
        return outcome
    if outcome.error_class in _PLAIN_ERRORS:
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


def seal_progress(
    task: ClaimedTask, detail: dict[str, Any], keys: tuple[EncryptionKey, ...]
) -> dict[str, Any]:
    """Progress details as an encrypted task stores them: ``{"sealed": ...}``."""
    encoding = stored.read(task.encoding)
    if encoding.key_id is None or not detail:
        return detail
    place = fields.Place(task.id, fields.PROGRESS, task.attempt)
    return {"sealed": fields.seal(json.dumps(detail), encoding, Keyring(keys), place)}
