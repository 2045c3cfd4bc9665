"""Named encoders: how a payload's JSON bytes become the bytes that are stored.

Pure. ``json`` (the default) stores the JSON itself; ``compressed`` runs
zlib over JSON from a size threshold; ``encrypted`` is ``json`` with the
encryption layer (``django_taskflow.encoding.encryption``) over it.
Register your own with :func:`register_encoder`; its name and version are
stored with each row it writes, so that any worker, and the admin, can
read the row back as long as the encoder stays registered there too.
"""

from __future__ import annotations

import threading
import zlib
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from django_taskflow.exceptions import InvalidTaskOptions, UnknownEncoding

JSON = "json"
COMPRESSED = "compressed"
ENCRYPTED = "encrypted"


@runtime_checkable
class Encoder(Protocol):
    """Turns a payload's JSON bytes into the stored bytes and back.

    ``version`` is stored with each row the encoder writes and given back
    to ``decode``, so that an encoder can change its format and still read
    what its older versions wrote.
    """

    @property
    def version(self) -> int: ...

    def encode(self, data: bytes) -> bytes: ...

    def decode(self, data: bytes, version: int) -> bytes: ...


@dataclass(frozen=True, slots=True)
class JsonEncoder:
    """The JSON bytes themselves."""

    version: int = 1

    def encode(self, data: bytes) -> bytes:
        return data

    def decode(self, data: bytes, version: int) -> bytes:
        return data


# The first byte of what CompressedEncoder stores says which form follows.
_RAW = b"j"
_ZLIB = b"z"


@dataclass(frozen=True, slots=True)
class CompressedEncoder:
    """zlib over the JSON bytes when they are at least ``threshold`` bytes long.

    Smaller payloads are stored as they are (compressing them costs time
    and saves nothing); one leading byte tells the two apart.
    """

    threshold: int = 1024
    level: int = 6
    version: int = 1

    def encode(self, data: bytes) -> bytes:
        if len(data) < self.threshold:
            return _RAW + data
        return _ZLIB + zlib.compress(data, self.level)

    def decode(self, data: bytes, version: int) -> bytes:
        form, body = data[:1], data[1:]
        if form == _ZLIB:
            return zlib.decompress(body)
        if form == _RAW:
            return body
        raise UnknownEncoding(f"The compressed payload starts with {form!r}, not b'j' or b'z'.")


_lock = threading.Lock()
_encoders: dict[str, Encoder] = {JSON: JsonEncoder(), COMPRESSED: CompressedEncoder()}


def register_encoder(name: str, encoder: Encoder) -> None:
    """Make ``encoder`` available as ``@task(encoder=name)`` and ``using(encoder=name)``.

    Register it where both the code that enqueues and every worker import
    it (an app's ``AppConfig.ready()``, say). Registering a name again
    replaces the encoder; ``encrypted`` is reserved.
    """
    if not isinstance(name, str) or not name or len(name) > 50 or name == ENCRYPTED:
        raise InvalidTaskOptions(
            f"An encoder's name must be a string of 1 to 50 characters other than "
            f"{ENCRYPTED!r}, got {name!r}."
        )
    if not isinstance(encoder, Encoder) or not _is_version(encoder.version):
        raise InvalidTaskOptions(
            f"Encoder {name!r} must have encode(data), decode(data, version) and a "
            f"whole-number version of at least 1, got {encoder!r}."
        )
    with _lock:
        _encoders[name] = encoder


def _is_version(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


def get_encoder(name: str) -> Encoder:
    """The encoder registered as ``name``; raises :class:`UnknownEncoding` for another name."""
    try:
        return _encoders[name]
    except KeyError:
        known = ", ".join(sorted([*_encoders, ENCRYPTED]))
        raise UnknownEncoding(
            f"No encoder is registered as {name!r} in this process (known: {known}). "
            "Register it with django_taskflow.register_encoder() where every worker imports it."
        ) from None


def is_known(name: str) -> bool:
    """Whether ``name`` can be given as ``encoder=`` (``encrypted`` included)."""
    return name == ENCRYPTED or name in _encoders


def seals(definition: object) -> bool:
    """Whether ``definition`` (a task, as defined or with ``using()``) stores its payload sealed."""
    return (
        bool(getattr(definition, "encrypted", False))
        or getattr(definition, "encoder", "") == ENCRYPTED
    )
