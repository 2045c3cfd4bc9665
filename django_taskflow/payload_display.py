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
REDACTED = "[encrypted]"


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
        try:
            place = fields.Place(task.pk, fields.RESULT)
            shown["result"] = json.loads(fields.unseal(task.result, encoding, keyring, place))
        except TaskflowError as exc:
            shown["result"] = _unreadable(exc)
    shown["progress_detail"] = progress_detail(
        task.pk, task.encoding, task.backend, task.attempts, task.progress_detail, reveal=reveal
    )
    return shown


def progress_detail(
    task_id: uuid.UUID,
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


# Event data keys that hold an attempt's sealed texts, by the field they were sealed as.
_EVENT_TEXTS = {"error_message": fields.ERROR_MESSAGE, "traceback": fields.TRACEBACK}


def event_data(event: models.Event, task: models.Task, *, reveal: bool) -> Any:
    """An event's data: its progress detail and error texts decoded or redacted."""
    data = dict(event.data or {})
    if "detail" in data:
        data["detail"] = progress_detail(
            task.pk, task.encoding, task.backend, event.attempt, data["detail"], reveal=reveal
        )
    for key, field in _EVENT_TEXTS.items():
        if fields.is_sealed_text(data.get(key)) and event.attempt is not None:
            data[key] = attempt_text(task, event.attempt, field, data[key], reveal=reveal)
    return data


def attempt_text(task: models.Task, attempt: int, field: str, text: str, *, reveal: bool) -> str:
    """An attempt's error message, traceback or error value (``field``), for display."""
    if not fields.is_sealed_text(text):
        return text
    if not reveal:
        return REDACTED
    place = fields.Place(task.pk, field, attempt)
    try:
        return fields.unseal_text(text, stored.read(task.encoding), _keyring(task.backend), place)
    except TaskflowError as exc:
        return _unreadable(exc)


ERROR_MESSAGE = fields.ERROR_MESSAGE
TRACEBACK = fields.TRACEBACK
ERROR_VALUE = attempts.ERROR_VALUE
