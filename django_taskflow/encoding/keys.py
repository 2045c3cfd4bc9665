"""Encryption keys: ``OPTIONS["ENCRYPTION_KEYS"]`` or the ``TASKFLOW_ENCRYPTION_KEYS`` variable.

Pure. Both hold a list of ``{"id": ..., "key": base64}``, the keys being
32 random bytes (AES-256). New writes use the first key; a row names the
key it was written with, and reads use that one, so that old keys stay
readable until ``taskflow rotate-keys`` has re-encrypted their rows.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

ENVIRONMENT_VARIABLE = "TASKFLOW_ENCRYPTION_KEYS"
KEY_BYTES = 32
ID_MAX_LENGTH = 40


@dataclass(frozen=True, slots=True)
class EncryptionKey:
    """One key: its id, stored with every row it encrypts, and its 32 bytes."""

    id: str
    secret: bytes

    def __repr__(self) -> str:  # never show the secret, in a log or a traceback
        return f"EncryptionKey(id={self.id!r})"


def problem(value: Any) -> str | None:
    """What is wrong with a list of keys (never quoting a key), or None."""
    if not isinstance(value, Sequence) or isinstance(value, str | bytes):
        return 'a list of {"id": ..., "key": base64 of 32 bytes}'
    seen = set()
    for index, entry in enumerate(value):
        if not isinstance(entry, Mapping) or set(entry) != {"id", "key"}:
            return f'a list of {{"id": ..., "key": ...}} dicts; entry {index} is not one'
        key_id = entry["id"]
        if (
            not isinstance(key_id, str)
            or not key_id
            or len(key_id) > ID_MAX_LENGTH
            or not key_id.isprintable()
        ):
            return f"key ids of 1 to {ID_MAX_LENGTH} printable characters; entry {index} is not"
        # Ignoring case: rotation finds rows by their key id with LIKE, which
        # SQLite matches without regard to case.
        if key_id.casefold() in seen:
            return f"keys with distinct ids (ignoring case); {key_id!r} is there twice"
        seen.add(key_id.casefold())
        if _secret(entry["key"]) is None:
            return (
                f'keys of {KEY_BYTES} bytes in base64 (python -c "import base64, os; '
                f'print(base64.b64encode(os.urandom(32)).decode())"); key {key_id!r} is not'
            )
    return None


def _secret(text: Any) -> bytes | None:
    if not isinstance(text, str):
        return None
    try:
        secret = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None
    return secret if len(secret) == KEY_BYTES else None


def parse(value: Sequence[Mapping[str, str]]) -> tuple[EncryptionKey, ...]:
    """The keys of a list that :func:`problem` accepted, first key first."""
    return tuple(
        EncryptionKey(id=entry["id"], secret=_secret(entry["key"]) or b"") for entry in value
    )


def from_environment() -> tuple[Any, str | None]:
    """``TASKFLOW_ENCRYPTION_KEYS`` decoded: ``(value, None)``, ``(None, problem)`` or ``(None, None)``.

    ``problem`` completes "TASKFLOW_ENCRYPTION_KEYS must be ...".
    """
    text = os.environ.get(ENVIRONMENT_VARIABLE)
    if not text:
        return None, None
    try:
        value = json.loads(text)
    except ValueError:
        return None, "a JSON list of keys; it is not JSON"
    if value is None:  # set, so meant to hold keys: not the same as unset
        return None, 'a JSON list of {"id": ..., "key": ...}; it is null'
    return value, None


@dataclass(frozen=True, slots=True)
class Keyring:
    """The keys this process has."""

    keys: tuple[EncryptionKey, ...] = ()

    @property
    def current(self) -> EncryptionKey | None:
        """The key new writes use: the first."""
        return self.keys[0] if self.keys else None

    def get(self, key_id: str) -> EncryptionKey | None:
        for key in self.keys:
            if key.id == key_id:
                return key
        return None
