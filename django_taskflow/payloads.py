"""JSON-only arguments and results: checks, encoding and clear errors.

Pure: no database access. Nothing is ever pickled: a value either is plain
JSON (dict with str keys, list, tuple, str, int, float, bool, None) or it is
refused where it was given, with the path to the offending value.
"""

from __future__ import annotations

import json
import math
from typing import Any

from django_taskflow.exceptions import PayloadTooLarge, UnserializablePayload

_SCALARS = (str, int, bool, type(None))


def find_unserializable(value: Any, path: str) -> str | None:
    """Return a description of the first value JSON cannot carry, or None."""
    if isinstance(value, str):
        # PostgreSQL's jsonb cannot store NUL; refuse it on every database.
        return f"{path} contains a NUL character" if "\x00" in value else None
    if isinstance(value, _SCALARS):
        return None
    if isinstance(value, float):
        return None if math.isfinite(value) else f"{path} is {value!r}, not a finite number"
    if isinstance(value, list | tuple):
        for index, item in enumerate(value):
            problem = find_unserializable(item, f"{path}[{index}]")
            if problem:
                return problem
        return None
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                return f"{path} has a key {key!r} of type {type(key).__name__}; keys must be str"
            if "\x00" in key:
                return f"{path} has a key {key!r} that contains a NUL character"
            problem = find_unserializable(item, f"{path}[{key!r}]")
            if problem:
                return problem
        return None
    return f"{path} is {type(value).__module__}.{type(value).__qualname__}, which is not JSON"


def encode_arguments(task_path: str, args: Any, kwargs: Any, max_bytes: int) -> tuple[str, str]:
    """Encode a call's arguments once, as stored: ``(args_json, kwargs_json)``.

    Raises :class:`UnserializablePayload` (a ``TypeError``) for a value that
    is not plain JSON and :class:`PayloadTooLarge` (a ``ValueError``) when
    the call, as the JSON ``[args, kwargs]``, takes more than ``max_bytes``.
    """
    problem = find_unserializable(list(args), "args") or find_unserializable(dict(kwargs), "kwargs")
    if problem:
        raise UnserializablePayload(
            f"Arguments of {task_path} must be JSON-serialisable: {problem}."
        )
    args_json = json.dumps(list(args), separators=(",", ":"))
    kwargs_json = json.dumps(dict(kwargs), separators=(",", ":"))
    size = call_size(args_json, kwargs_json)
    if size > max_bytes:
        raise PayloadTooLarge(
            f"Arguments of {task_path} take {size} bytes as JSON, more than "
            f"OPTIONS['MAX_PAYLOAD_BYTES'] = {max_bytes}."
        )
    return args_json, kwargs_json


def call_size(args_json: str, kwargs_json: str) -> int:
    """Bytes of the call as the JSON ``[args, kwargs]``."""
    return len(args_json.encode()) + len(kwargs_json.encode()) + len("[,]")


def encode_result(value: Any, max_bytes: int | None = None) -> str:
    """Encode a task's return value.

    Raises :class:`UnserializablePayload` for a value that is not plain JSON,
    and :class:`PayloadTooLarge` for one larger than ``max_bytes``.
    """
    problem = find_unserializable(value, "the return value")
    if problem:
        raise UnserializablePayload(f"The task's result must be JSON-serialisable: {problem}.")
    encoded = json.dumps(value, separators=(",", ":"))
    if max_bytes is not None and len(encoded.encode()) > max_bytes:
        raise PayloadTooLarge(
            f"The task's result takes {len(encoded.encode())} bytes as JSON, more than "
            f"OPTIONS['MAX_PAYLOAD_BYTES'] = {max_bytes}."
        )
    return encoded
