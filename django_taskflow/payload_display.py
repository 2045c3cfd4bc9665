"""A row's payloads as the admin and the API show them: decoded, or redacted.

A row in plain JSON is shown as stored. An encoded one (``compressed``, a
custom encoder) is decoded. An encrypted one is shown as
:data:`REDACTED` unless the viewer holds
``django_taskflow.view_encrypted_payload``; then it is decrypted with this
process's keys (a key it lacks, or a tampered value, shows why instead).
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from django.tasks import task_backends
from django.tasks.exceptions import InvalidTaskBackend

from django_taskflow import models
from django_taskflow.access import is_active_user
from django_taskflow.encoding import attempts, fields, stored
from django_taskflow.encoding.keys import EncryptionKey, Keyring
from django_taskflow.exceptions import TaskflowError

VIEW_ENCRYPTED_PAYLOAD = "django_taskflow.view_encrypted_payload"
REDACTED = fields.REDACTED


def sees_encrypted(user: Any) -> bool:
    """Whether ``user`` may see the decrypted payloads of encrypted tasks."""
    return is_active_user(user) and bool(user.has_perm(VIEW_ENCRYPTED_PAYLOAD))


def _keyring(backend: str) -> Keyring:
    try:
        config = getattr(task_backends[backend], "config", None)
    except InvalidTaskBackend:
        return Keyring()
    keys: tuple[EncryptionKey, ...] = () if config is None else config.encryption_keys
    return Keyring(keys)


def _unreadable(exc: TaskflowError) -> str:
    return f"[cannot be decoded here: {exc}]"


def task_payload(task: models.Task, *, reveal: bool) -> dict[str, Any]:
    """``args``, ``kwargs``, ``result`` and ``progress_detail`` as ``task`` should show them."""
    shown = {
        "args": task.args,
        "kwargs": task.kwargs,
        "result": task.result,
        "progress_detail": task.progress_detail,
    }
    encoding = stored.read(task.encoding)
    if encoding.is_plain and encoding.key_id is None:
        return shown
    if encoding.key_id is not None and not reveal:
        return {name: None if value in (None, {}) else REDACTED for name, value in shown.items()}
    keyring = _keyring(task.backend)
    try:
        call = json.loads(
            fields.unseal(task.args, encoding, keyring, fields.Place(task.pk, fields.CALL))
        )
        shown["args"], shown["kwargs"] = call
    except TaskflowError as exc:
        shown["args"], shown["kwargs"] = _unreadable(exc), None
    if task.result is not None:
        shown["result"] = revealed_result(task.result, task.pk, task.encoding, task.backend)
    shown["progress_detail"] = progress_detail(
        task.pk, task.encoding, task.backend, task.attempts, task.progress_detail, reveal=reveal
    )
    return shown


def progress_detail(
    task_id: uuid.UUID | str,
    encoding_column: str | None,
    backend: str,
    attempt: int | None,
    detail: Any,
    *,
    reveal: bool,
) -> Any:
    """A progress detail as stored (``{"sealed": ...}`` for an encrypted task), for display."""
    if not (isinstance(detail, dict) and set(detail) == {"sealed"}):
        return detail
    if not reveal:
        return REDACTED
    encoding = stored.read(encoding_column)
    place = fields.Place(task_id, fields.PROGRESS, attempt)
    try:
        return json.loads(fields.unseal(detail["sealed"], encoding, _keyring(backend), place))
    except TaskflowError as exc:
        return _unreadable(exc)


def revealed_result(
    result: Any, task_id: uuid.UUID | str, encoding: str | None, backend: str
) -> Any:
    """A stored result decoded with this process's keys (or why it cannot be)."""
    if result is None or encoding is None:
        return result
    place = fields.Place(task_id, fields.RESULT)
    try:
        return json.loads(fields.unseal(result, stored.read(encoding), _keyring(backend), place))
    except TaskflowError as exc:
        return _unreadable(exc)


# Event data keys that hold an attempt's sealed texts, by the field they were sealed as.
_EVENT_TEXTS = {
    "error_message": fields.ERROR_MESSAGE,
    "traceback": fields.TRACEBACK,
    "error_value": attempts.ERROR_VALUE,
}
# What an encrypted task's events hold of its payload: redacted in their string forms.
ENCRYPTED_EVENT_KEYS = frozenset({"detail", "message", *_EVENT_TEXTS})


def event_data(event: models.Event, task: models.Task, *, reveal: bool) -> Any:
    """An event's data: its progress detail and error texts decoded or redacted."""
    return shown_event_data(
        event.data or {},
        task_id=task.pk,
        encoding=task.encoding,
        backend=task.backend,
        attempt=event.attempt,
        reveal=reveal,
    )


def shown_event_data(
    data: dict[str, Any],
    *,
    task_id: uuid.UUID | str,
    encoding: str | None,
    backend: str,
    attempt: int | None,
    reveal: bool,
) -> dict[str, Any]:
    """:func:`event_data`, from the event's and its task's fields.

    Revealed, an encrypted task's progress message (stored as
    :data:`REDACTED`, and sealed with the detail) is given back in its place.
    """
    data = dict(data)
    if "detail" in data:
        detail = progress_detail(task_id, encoding, backend, attempt, data["detail"], reveal=reveal)
        if reveal and isinstance(detail, dict) and data.get("message", REDACTED) == REDACTED:
            detail = dict(detail)
            if "message" in detail:
                data["message"] = detail.pop("message")
        data["detail"] = detail
    if attempt is None:
        return data
    for key, field in _EVENT_TEXTS.items():
        text = data.get(key)
        if fields.holds_sealed_text(text):
            place = fields.Place(task_id, field, attempt)
            shown = shown_text(text, place, encoding, backend, reveal=reveal)
            if key == "error_value" and reveal:
                shown = _json_or_text(shown)  # sealed as JSON text
            data[key] = shown
    return data


def _json_or_text(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text  # why it cannot be decoded


def attempt_text(task: models.Task, attempt: int, field: str, text: str, *, reveal: bool) -> str:
    """An attempt's error message, traceback or error value (``field``), for display."""
    place = fields.Place(task.pk, field, attempt)
    return shown_text(text, place, task.encoding, task.backend, reveal=reveal)


def shown_text(
    text: str, place: fields.Place, encoding: str | None, backend: str, *, reveal: bool
) -> str:
    """``text`` with each sealed text in it decoded or redacted (a cancelled attempt's
    message holds its error message after a plain prefix)."""
    if not fields.holds_sealed_text(text):
        return text
    if not reveal:
        return fields.redact_text(text)
    read = stored.read(encoding)
    keyring = _keyring(backend)

    def opened(sealed: str) -> str:
        try:
            return fields.unseal_text(sealed, read, keyring, place)
        except TaskflowError as exc:
            return _unreadable(exc)

    return fields.map_sealed_texts(text, opened)


ERROR_MESSAGE = fields.ERROR_MESSAGE
TRACEBACK = fields.TRACEBACK
ERROR_VALUE = attempts.ERROR_VALUE
