"""The stored call of a task's copy (a requeue, a retry with edited arguments).

Encrypted arguments are bound to their task's id, so a copy cannot reuse
the original's ciphertext: it is decrypted and sealed again for the new
id. Edited arguments arrive as plain JSON and are sealed the same way.
"""

from __future__ import annotations

import json
import uuid

from django_taskflow import models
from django_taskflow.encoding import fields, stored
from django_taskflow.encoding.keys import EncryptionKey, Keyring


def seal_copy(
    copy: models.Task, original_id: uuid.UUID, *, edited: bool, keys: tuple[EncryptionKey, ...]
) -> None:
    """Make ``copy.args`` (and ``kwargs``) the sealed call for ``copy``'s own id.

    Raises what :func:`fields.unseal` raises when the original cannot be read.
    """
    encoding = stored.read(copy.encoding)
    if encoding.is_plain:
        return
    keyring = Keyring(keys)
    if edited:
        text = json.dumps([copy.args, copy.kwargs])
    else:
        text = fields.unseal(copy.args, encoding, keyring, fields.Place(original_id, fields.CALL))
    copy.args = fields.seal(text, encoding, keyring, fields.Place(copy.pk, fields.CALL))
    copy.kwargs = {}
