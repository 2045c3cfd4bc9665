"""A task's result as stored in its row's ``result`` column, through the row's encoding."""

from __future__ import annotations

import json
import uuid
from typing import Any

from django_taskflow import payloads
from django_taskflow.encoding import fields, stored
from django_taskflow.encoding.keys import EncryptionKey, Keyring
from django_taskflow.exceptions import PayloadTooLarge

_UNLIMITED = 2**62


def encode(
    value: Any,
    task_id: uuid.UUID | str,
    column: str | None,
    keys: tuple[EncryptionKey, ...],
    max_bytes: int,
) -> str:
    """The JSON text to store for ``value``; the size limit applies to it as stored.

    Raises what :func:`payloads.encode_result` raises, and
    :class:`PayloadTooLarge` for an encoded result over ``max_bytes``.
    """
    encoding = stored.read(column)
    if encoding.is_plain:
        return payloads.encode_result(value, max_bytes)
    plain = payloads.encode_result(value, _UNLIMITED)
    sealed = fields.seal_value(plain, encoding, Keyring(keys), fields.Place(task_id, fields.RESULT))
    if len(sealed) > max_bytes:
        raise PayloadTooLarge(
            f"The task's result takes {len(sealed)} bytes as stored, more than "
            f"OPTIONS['MAX_PAYLOAD_BYTES'] = {max_bytes}."
        )
    return sealed


def decode(
    stored_value: Any, task_id: uuid.UUID | str, column: str | None, keys: tuple[EncryptionKey, ...]
) -> Any:
    """The JSON value of a stored result (``None`` for no result)."""
    encoding = stored.read(column)
    if encoding.is_plain or stored_value is None:
        return stored_value
    place = fields.Place(task_id, fields.RESULT)
    return json.loads(fields.unseal(stored_value, encoding, Keyring(keys), place))
