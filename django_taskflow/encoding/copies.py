"""The stored call of a task's copy (a requeue, a retry with edited arguments).

Encrypted arguments are bound to their task's id, so a copy cannot reuse
the original's ciphertext: it is decrypted and sealed again for the new
id. Edited arguments arrive as plain JSON and are sealed the same way.
"""

from __future__ import annotations

import dataclasses
import json
import uuid
from typing import TYPE_CHECKING

from django_taskflow import models
from django_taskflow.encoding import fields, stored
from django_taskflow.encoding.keys import EncryptionKey, Keyring

if TYPE_CHECKING:
    from django_taskflow.definition import TaskflowTask


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


def as_written(definition: TaskflowTask, column: str | None) -> TaskflowTask:
    """``definition`` with the encoder and encryption of a row it wrote (``column``).

    For a new run of that row with other arguments: a task encrypted for
    one enqueue (``using(encoder="encrypted")``) stays encrypted, and
    whatever the definition says now, encryption is never dropped.
    """
    encoding = stored.read(column)
    if encoding.is_plain:
        return definition
    return dataclasses.replace(
        definition,
        encoder=encoding.encoder,
        encrypted=definition.encrypted or encoding.key_id is not None,
    )
