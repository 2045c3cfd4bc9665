"""AES-256-GCM over a stored field, bound to its task, attempt and field name.

Pure. The cipher is the ``cryptography`` package's ``AESGCM``; nothing
here is cipher code of our own. Each sealed value is a fresh 96-bit nonce
followed by the ciphertext and its tag. The associated data names the
task, the attempt where there is one, and the field, so that a ciphertext
copied to another row or another field fails authentication.
"""

from __future__ import annotations

import functools
import uuid
from typing import TYPE_CHECKING

from django_taskflow import random_bytes
from django_taskflow.encoding.keys import EncryptionKey
from django_taskflow.exceptions import TamperedPayload

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

NONCE_BYTES = 12


def associated_data(task_id: uuid.UUID | str, field: str, attempt: int | None = None) -> bytes:
    """What a ciphertext is bound to: ``task id | attempt | field``."""
    return f"{task_id}|{'' if attempt is None else attempt}|{field}".encode()


def seal(key: EncryptionKey, plaintext: bytes, aad: bytes) -> bytes:
    """Encrypt ``plaintext`` under ``key``, bound to ``aad``."""
    # A fresh random nonce (django_taskflow.random_bytes: never handed out twice).
    nonce = random_bytes.take(NONCE_BYTES)
    return nonce + _cipher(key.secret).encrypt(nonce, plaintext, aad)


def open_sealed(key: EncryptionKey, sealed: bytes, aad: bytes, *, what: str) -> bytes:
    """Decrypt what :func:`seal` wrote; raise :class:`TamperedPayload` naming ``what``.

    Fails when the ciphertext was changed, was written for another row or
    field, or under another key with the same id.
    """
    from cryptography.exceptions import InvalidTag

    nonce, body = sealed[:NONCE_BYTES], sealed[NONCE_BYTES:]
    try:
        return _cipher(key.secret).decrypt(nonce, body, aad)
    except (InvalidTag, ValueError):
        raise TamperedPayload(
            f"The encrypted {what} failed authentication with key {key.id!r}: it was changed, "
            "or copied from another task or field."
        ) from None


@functools.lru_cache(maxsize=16)
def _cipher(secret: bytes) -> AESGCM:
    """The cipher of one key, built once: building it checks the key each time."""
    return _cipher_class()(secret)


def import_cipher() -> None:
    """Load the cipher library now: before a worker forks its slots, so
    that they share it rather than each import it on its first sealed task."""
    _cipher_class()


def _cipher_class() -> type[AESGCM]:
    # Imported here: a worker whose tasks are not encrypted never loads the
    # cipher library (docs/howto/workers.md, "Start-up").
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    return AESGCM
