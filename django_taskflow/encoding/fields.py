"""One stored field (the call, the result...) through a row's encoder and key.

A field of a row whose ``encoding`` is not plain is stored as one JSON
string: the base64 of what the encoder (and, with a key, AES-256-GCM over
it) made of the field's JSON. :func:`seal` writes it, :func:`unseal` reads
it back; both need the task's id (and attempt, for per-attempt fields),
which the encryption binds the ciphertext to.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeGuard

from django_taskflow.encoding import encoders, encryption, stored
from django_taskflow.encoding.keys import EncryptionKey, Keyring
from django_taskflow.exceptions import MissingEncryptionKey, UnknownEncoding

# Field names in the associated data (and in messages).
CALL = "arguments"
RESULT = "result"
ERROR_MESSAGE = "error message"
TRACEBACK = "traceback"
PROGRESS = "progress"
EVENT = "event data"

REDACTED = "[encrypted]"
"""What is shown of an encrypted field to whoever may not see it (logs, signals' string forms)."""

# Errors of ours about reading the stored payload: they hold none of it, and
# stay readable (never sealed) to say what went wrong (a tampered row, a missing encoder).
PLAIN_ERRORS = frozenset(
    f"django_taskflow.exceptions.{name}"
    for name in (
        "TamperedPayload",
        "UnknownEncoding",
        "PayloadVersionError",
        "MissingEncryptionKey",
    )
)


@dataclass(frozen=True, slots=True)
class Place:
    """Where a field belongs: what its ciphertext is bound to."""

    task_id: uuid.UUID | str
    field: str
    attempt: int | None = None


def encoding_for(
    encoder: str, *, encrypted: bool, keyring: Keyring, version: int = 1
) -> stored.Encoding:
    """The :class:`~stored.Encoding` new rows of a task get (``encoder`` checked, key chosen).

    Raises :class:`UnknownEncoding` for an unregistered encoder and
    :class:`MissingEncryptionKey` for encryption without a key.
    """
    if encoder == encoders.ENCRYPTED:
        encoder, encrypted = encoders.JSON, True
    base = encoders.get_encoder(encoder)
    key_id = None
    if encrypted:
        current = keyring.current
        if current is None:
            raise MissingEncryptionKey(
                "This task is encrypted, but no key is configured: set "
                'OPTIONS["ENCRYPTION_KEYS"] or TASKFLOW_ENCRYPTION_KEYS.'
            )
        key_id = current.id
    return stored.Encoding(
        version=version, encoder=encoder, encoder_version=base.version, key_id=key_id
    )


def _key(keyring: Keyring, key_id: str) -> EncryptionKey:
    key = keyring.get(key_id)
    if key is None:
        raise MissingEncryptionKey(
            f"This process lacks encryption key {key_id!r}, which the task was written with.",
            key_id=key_id,
        )
    return key


def seal(text: str, encoding: stored.Encoding, keyring: Keyring, place: Place) -> str:
    """The stored form of the JSON ``text``: a base64 string (to be stored as a JSON string)."""
    data = encoders.get_encoder(encoding.encoder).encode(text.encode())
    if encoding.key_id is not None:
        aad = encryption.associated_data(place.task_id, place.field, place.attempt)
        data = encryption.seal(_key(keyring, encoding.key_id), data, aad)
    return base64.b64encode(data).decode("ascii")


def unseal(sealed: object, encoding: stored.Encoding, keyring: Keyring, place: Place) -> str:
    """The JSON text :func:`seal` stored as ``sealed``.

    Raises :class:`UnknownEncoding` (unregistered encoder, or not a sealed
    value), :class:`MissingEncryptionKey` and
    :class:`~django_taskflow.exceptions.TamperedPayload`.
    """
    if not isinstance(sealed, str):
        raise UnknownEncoding(f"The {place.field} should be stored encoded, but is not.")
    try:
        # strict_mode: refuses what is not base64, in C (b64decode's validate
        # runs a regular expression over the text first).
        data = binascii.a2b_base64(sealed, strict_mode=True)
    except (binascii.Error, ValueError):
        raise UnknownEncoding(f"The stored {place.field} is not base64.") from None
    if encoding.key_id is not None:
        aad = encryption.associated_data(place.task_id, place.field, place.attempt)
        data = encryption.open_sealed(_key(keyring, encoding.key_id), data, aad, what=place.field)
    decoded = encoders.get_encoder(encoding.encoder).decode(data, encoding.encoder_version)
    return decoded.decode()


def seal_value(value_json: str, encoding: stored.Encoding, keyring: Keyring, place: Place) -> str:
    """:func:`seal`, as the JSON text of the stored string (for a JSON column)."""
    return json.dumps(seal(value_json, encoding, keyring, place))


SEALED_TEXT_PREFIX = "taskflow-sealed:"
"""Starts a text column (an error message, a traceback) that holds a sealed value."""


def seal_text(text: str, encoding: stored.Encoding, keyring: Keyring, place: Place) -> str:
    """``text`` as an encrypted row stores it in a text column; unchanged when not encrypted."""
    if encoding.key_id is None or not text:
        return text
    return SEALED_TEXT_PREFIX + seal(json.dumps(text), encoding, keyring, place)


def is_sealed_text(value: object) -> bool:
    return isinstance(value, str) and value.startswith(SEALED_TEXT_PREFIX)


# A sealed text inside a longer one: a cancelled attempt's message is
# "cancelled by ...; the attempt ended with: <its sealed error message>".
_SEALED_TEXT = re.compile(re.escape(SEALED_TEXT_PREFIX) + r"[A-Za-z0-9+/]*={0,2}")


def holds_sealed_text(value: object) -> TypeGuard[str]:
    """Whether ``value`` is, or has inside it, a text :func:`seal_text` sealed."""
    return isinstance(value, str) and SEALED_TEXT_PREFIX in value


def map_sealed_texts(value: str, change: Callable[[str], str]) -> str:
    """``value`` with each sealed text in it replaced by ``change(sealed_text)``."""
    if SEALED_TEXT_PREFIX not in value:
        return value
    return _SEALED_TEXT.sub(lambda found: change(found.group()), value)


def redact_text(value: str) -> str:
    """``value`` with each sealed text in it shown as :data:`REDACTED`."""
    return map_sealed_texts(value, lambda _: REDACTED)


def unseal_text(value: str, encoding: stored.Encoding, keyring: Keyring, place: Place) -> str:
    """The text :func:`seal_text` sealed (other text is returned as it is)."""
    if not is_sealed_text(value):
        return value
    text = json.loads(unseal(value.removeprefix(SEALED_TEXT_PREFIX), encoding, keyring, place))
    return str(text)
