"""A call's arguments as stored (at enqueue) and as the function takes them (in the worker).

:func:`writer_for` prepares, once per enqueue call, how every row of it is
written; a task without typed parameters, versions, encoders or
encryption gets the plain JSON path it always had. :func:`read_call` is
the worker's side.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from django.tasks import Task

from django_taskflow import payloads
from django_taskflow.encoding import calls, fields, stored
from django_taskflow.encoding.keys import EncryptionKey, Keyring
from django_taskflow.exceptions import PayloadTooLarge

_UNLIMITED = 2**62
# The call without arguments, as ArgumentWriter.encode seals it.
_NO_ARGUMENTS = "[[],{}]"


@dataclass(frozen=True, slots=True)
class ArgumentWriter:
    """Encodes each call of one definition; ``column`` is its rows' ``encoding``."""

    task_path: str
    definition: Task[Any, Any]
    encoding: stored.Encoding
    column: str | None
    keyring: Keyring
    max_bytes: int

    def as_json(
        self, args: Sequence[Any], kwargs: Mapping[str, Any]
    ) -> tuple[Sequence[Any], Mapping[str, Any]]:
        """The call with its typed arguments as JSON values; raises for a wrong shape."""
        definition = self.definition
        return calls.dump_call(
            self.task_path, definition.func, definition.takes_context, args, kwargs
        )

    def encode(
        self, args: Sequence[Any], kwargs: Mapping[str, Any], task_id: uuid.UUID
    ) -> tuple[str, str]:
        """``(args_json, kwargs_json)`` as stored, from :meth:`as_json`'s values.

        An encoded call is one JSON string in ``args`` (``kwargs`` is ``{}``),
        and the size limit applies to it as stored.
        """
        if self.encoding.is_plain:
            return payloads.encode_arguments(self.task_path, args, kwargs, self.max_bytes)
        args_json, kwargs_json = payloads.encode_arguments(self.task_path, args, kwargs, _UNLIMITED)
        place = fields.Place(task_id, fields.CALL)
        sealed = fields.seal_value(
            f"[{args_json},{kwargs_json}]", self.encoding, self.keyring, place
        )
        size = len(sealed) + len("{}")
        if size > self.max_bytes:
            raise PayloadTooLarge(
                f"Arguments of {self.task_path} take {size} bytes as stored "
                f"({self.encoding.encoder}{', encrypted' if self.encoding.key_id else ''}), "
                f"more than OPTIONS['MAX_PAYLOAD_BYTES'] = {self.max_bytes}."
            )
        return sealed, "{}"


def writer_for(
    definition: Task[Any, Any], max_bytes: int, keys: tuple[EncryptionKey, ...] = ()
) -> ArgumentWriter:
    """How the rows of ``definition`` are written by this enqueue.

    Raises :class:`~django_taskflow.exceptions.UnknownEncoding` for an
    encoder not registered here and
    :class:`~django_taskflow.exceptions.MissingEncryptionKey` for an
    encrypted task without a key.
    """
    keyring = Keyring(keys)
    encoder = getattr(definition, "encoder", "json")
    encrypted = getattr(definition, "encrypted", False)
    version = getattr(definition, "version", 1)
    if encoder == "json" and not encrypted and version == 1:
        # Most tasks: nothing to look up or build (enqueue one by one pays this per call).
        return ArgumentWriter(
            definition.module_path, definition, stored.PLAIN, None, keyring, max_bytes
        )
    encoding = fields.encoding_for(encoder, encrypted=encrypted, keyring=keyring, version=version)
    return ArgumentWriter(
        task_path=definition.module_path,
        definition=definition,
        encoding=encoding,
        column=encoding.to_column(),
        keyring=keyring,
        max_bytes=max_bytes,
    )


def read_call(
    definition: Task[Any, Any],
    task_id: uuid.UUID | str,
    column: str | None,
    args: Any,
    kwargs: Any,
    keys: tuple[EncryptionKey, ...] = (),
) -> tuple[list[Any], dict[str, Any]]:
    """The stored call as JSON values the current version of ``definition`` takes.

    Decoded by the row's encoder (and key), then upgraded from an older
    version; :func:`calls.load_call` then builds the typed values. Raises
    :class:`~django_taskflow.exceptions.PayloadVersionError`,
    :class:`~django_taskflow.exceptions.UnknownEncoding`,
    :class:`~django_taskflow.exceptions.MissingEncryptionKey` or
    :class:`~django_taskflow.exceptions.TamperedPayload` for a row this
    worker cannot read.
    """
    encoding = stored.read(column)
    if not encoding.is_plain:
        text = fields.unseal(args, encoding, Keyring(keys), fields.Place(task_id, fields.CALL))
        # A call without arguments, as most are, needs no parser.
        args, kwargs = ([], {}) if text == _NO_ARGUMENTS else json.loads(text)
    if encoding.version != getattr(definition, "version", 1):
        args, kwargs = calls.upgrade_call(definition, encoding.version, args, kwargs)
    return args, kwargs
