"""The ``encoding`` column: how a row's payload is stored.

Pure. NULL (``None``) means what every row held before typed payloads: plain
JSON of the task's first version. Anything else is a small JSON object,
written once at enqueue, so that any worker (and the admin) reads the row
the way it was written:

- ``v``: the version of the task's arguments (``@task(version=...)``);
- ``enc`` and ``ev``: the encoder's name and version (``json`` is implied);
- ``key``: the id of the encryption key.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache

from django_taskflow.exceptions import UnknownEncoding

DEFAULT_ENCODER = "json"


@dataclass(frozen=True, slots=True, kw_only=True)
class Encoding:
    """What the ``encoding`` column says about one row."""

    version: int = 1
    encoder: str = DEFAULT_ENCODER
    encoder_version: int = 1
    key_id: str | None = None

    @property
    def is_plain(self) -> bool:
        """Whether args, kwargs and result are the JSON values themselves."""
        return self.encoder == DEFAULT_ENCODER and self.key_id is None

    def to_column(self) -> str | None:
        """The column's text, or ``None`` (NULL) for the first version in plain JSON."""
        marker: dict[str, object] = {}
        if self.version != 1:
            marker["v"] = self.version
        if self.encoder != DEFAULT_ENCODER:
            marker["enc"] = self.encoder
            marker["ev"] = self.encoder_version
        if self.key_id is not None:
            marker["key"] = self.key_id
        return json.dumps(marker, separators=(",", ":")) if marker else None


PLAIN = Encoding()


@lru_cache(maxsize=256)
def _parse(text: str) -> Encoding:
    try:
        marker = json.loads(text)
        return Encoding(
            version=int(marker.get("v", 1)),
            encoder=str(marker.get("enc", DEFAULT_ENCODER)),
            encoder_version=int(marker.get("ev", 1)),
            key_id=None if marker.get("key") is None else str(marker["key"]),
        )
    except (ValueError, TypeError, AttributeError) as exc:
        raise UnknownEncoding(f"The task's encoding {text!r} cannot be read ({exc}).") from None


def read(column: str | None) -> Encoding:
    """The :class:`Encoding` of a row's ``encoding`` column (few distinct values: cached)."""
    return PLAIN if column is None else _parse(column)
