"""JSON-only arguments and results: checks, encoding and clear errors.

Pure: no database access. Nothing is ever pickled: a value either is plain
JSON (dict with str keys, list, tuple, str, int, float, bool, None) or it is
refused where it was given, with the path to the offending value.
"""

from __future__ import annotations

import datetime
import decimal
import json
import math
import sys
import uuid
from typing import Any

from django_taskflow.exceptions import PayloadTooLarge, UnserializablePayload

_SCALARS = (str, int, bool, type(None))

# One encoder for every payload: json.dumps() with separators builds a new one per call.
_ENCODER = json.JSONEncoder(separators=(",", ":"))

MAX_DEPTH = 500
"""How deeply arguments, results and progress details may nest lists and dicts.

Half of Python's default recursion limit (1,000): deep enough for any real
payload, shallow enough that checking, encoding and decoding a value (each
of which recurses once per level) never runs out of stack, in a worker
slot or in the caller. Nothing deeper is ever stored, so nothing deeper is
ever decoded.
"""


def _fix_for(value: Any) -> str:
    """The likely fix for a common value that is not JSON, as the end of a sentence."""
    if isinstance(value, datetime.datetime | datetime.date | datetime.time):
        return "; pass value.isoformat() and parse it in the task"
    if isinstance(value, uuid.UUID | decimal.Decimal):
        return "; pass str(value) and convert it back in the task"
    if isinstance(value, set | frozenset):
        return "; pass list(value)"
    meta = getattr(type(value), "_meta", None)
    if meta is not None and hasattr(value, "pk") and hasattr(meta, "concrete_model"):
        # A model instance: its row may change before the task runs, so pass its key.
        return "; pass its primary key (value.pk) and fetch the row in the task"
    return ""


def find_unserializable(value: Any, path: str, depth: int = 0) -> str | None:
    """Return a description of the first value JSON cannot carry, or None.

    Strings may not hold a NUL character (PostgreSQL refuses it) or a lone
    surrogate (no UTF-8 encoding exists for it), and lists and dicts may not
    nest deeper than :data:`MAX_DEPTH`. A description ends with the likely
    fix when there is one, e.g. ``.isoformat()`` for a datetime.
    """
    if isinstance(value, str):
        return _text_problem(value, path)
    if isinstance(value, int) and value.bit_length() > _BITS_SURELY_WRITABLE:
        return _int_problem(value, path)
    if isinstance(value, _SCALARS):
        return None
    if isinstance(value, float):
        return None if math.isfinite(value) else f"{path} is {value!r}, not a finite number"
    if isinstance(value, list | tuple | dict) and depth >= MAX_DEPTH:
        shown = path if len(path) <= 60 else f"{path[:40]}…"
        return f"{shown} nests lists or dicts deeper than the limit of {MAX_DEPTH} levels"
    if isinstance(value, list | tuple):
        for index, item in enumerate(value):
            problem = find_unserializable(item, f"{path}[{index}]", depth + 1)
            if problem:
                return problem
        return None
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                return f"{path} has a key {key!r} of type {type(key).__name__}; keys must be str"
            key_problem = _text_problem(key, f"{path} has a key {key!r} that")
            if key_problem:
                return key_problem
            problem = find_unserializable(item, f"{path}[{key!r}]", depth + 1)
            if problem:
                return problem
        return None
    kind = f"{type(value).__module__}.{type(value).__qualname__}"
    return f"{path} is {kind}, which is not JSON{_fix_for(value)}"


# An int of at most this many bits has fewer than 3,100 digits, below
# Python's smallest limit on int-to-text conversion (sys.set_int_max_str_digits).
_BITS_SURELY_WRITABLE = 10_000


def _int_problem(value: int, path: str) -> str | None:
    try:
        str(value)
    except ValueError:  # more digits than sys.get_int_max_str_digits()
        return (
            f"{path} is an int of more than {sys.get_int_max_str_digits():,} digits, "
            "which JSON cannot write here; pass it as a str"
        )
    return None


def _text_problem(text: str, subject: str) -> str | None:
    # PostgreSQL's jsonb cannot store NUL; refuse it on every database.
    if "\x00" in text:
        return f"{subject} contains a NUL character"
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            return f"{subject} contains a lone surrogate, which UTF-8 cannot encode"
    return None


def _encode_arguments_part(task_path: str, value: list[Any] | dict[str, Any], name: str) -> str:
    problem = find_unserializable(value, name)
    if problem:
        raise UnserializablePayload(
            f"Arguments of {task_path} must be JSON-serialisable: {problem}."
        )
    return _ENCODER.encode(value)


def encode_arguments(task_path: str, args: Any, kwargs: Any, max_bytes: int) -> tuple[str, str]:
    """Encode a call's arguments once, as stored: ``(args_json, kwargs_json)``.

    Raises :class:`UnserializablePayload` (a ``TypeError``) for a value that
    is not plain JSON and :class:`PayloadTooLarge` (a ``ValueError``) when
    the call, as the JSON ``[args, kwargs]``, takes more than ``max_bytes``.
    """
    # A call without arguments, common for bulk enqueues, needs no walk.
    args_json = _encode_arguments_part(task_path, list(args), "args") if args else "[]"
    kwargs_json = _encode_arguments_part(task_path, dict(kwargs), "kwargs") if kwargs else "{}"
    size = call_size(args_json, kwargs_json)
    if size > max_bytes:
        raise PayloadTooLarge(
            f"Arguments of {task_path} take {size} bytes as JSON, more than "
            f"OPTIONS['MAX_PAYLOAD_BYTES'] = {max_bytes}."
        )
    return args_json, kwargs_json


def call_size(args_json: str, kwargs_json: str) -> int:
    """Bytes of the call as the JSON ``[args, kwargs]``."""
    return _utf8_length(args_json) + _utf8_length(kwargs_json) + len("[,]")


def _utf8_length(text: str) -> int:
    # Encoding JSON gives ASCII unless told otherwise: then characters are bytes.
    return len(text) if text.isascii() else len(text.encode())


def encode_result(value: Any, max_bytes: int | None = None) -> str:
    """Encode a task's return value.

    Raises :class:`UnserializablePayload` for a value that is not plain JSON,
    and :class:`PayloadTooLarge` for one larger than ``max_bytes``.
    """
    problem = find_unserializable(value, "the return value")
    if problem:
        raise UnserializablePayload(f"The task's result must be JSON-serialisable: {problem}.")
    encoded = _ENCODER.encode(value)
    if max_bytes is not None and len(encoded.encode()) > max_bytes:
        raise PayloadTooLarge(
            f"The task's result takes {len(encoded.encode())} bytes as JSON, more than "
            f"OPTIONS['MAX_PAYLOAD_BYTES'] = {max_bytes}."
        )
    return encoded


def is_too_deep(value: Any) -> bool:
    """Whether lists and dicts in ``value`` nest deeper than :data:`MAX_DEPTH`.

    Walks without recursion, so it answers for any value (even one that
    contains itself) where a recursive walk would raise ``RecursionError``.
    """
    stack = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if not isinstance(item, list | tuple | dict):
            continue
        if depth >= MAX_DEPTH:
            return True
        children = item.values() if isinstance(item, dict) else item
        stack.extend((child, depth + 1) for child in children)
    return False
