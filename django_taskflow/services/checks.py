"""What services refuse before writing anything: names no one could address, unstorable JSON.

A refused value raises here, in the caller's code, never as a database
error halfway through a write.
"""

from __future__ import annotations

import json
import unicodedata
from typing import Any

from django.tasks import task_backends

from django_taskflow.exceptions import InvalidService, PayloadTooLarge, UnserializablePayload
from django_taskflow.payloads import find_unserializable
from django_taskflow.text import storable_text

NAME_MAX_LENGTH = 200


def is_addressable(name: Any) -> bool:
    """Whether ``name`` can name a service.

    It must be stored as it is (no NUL, no lone surrogate), reachable in a
    URL path segment (no ``/``), and read back the same from a shell or a
    log line (no control characters, no leading or trailing spaces).
    """
    return (
        isinstance(name, str)
        and 0 < len(name) <= NAME_MAX_LENGTH
        and name == name.strip()
        and "/" not in name
        and storable_text(name) is name
        and not any(unicodedata.category(char) == "Cc" for char in name)
    )


def checked_name(name: Any) -> str:
    if not is_addressable(name):
        raise InvalidService(
            f"a service name must be 1 to {NAME_MAX_LENGTH} characters without '/', control "
            f"characters, lone surrogates or leading or trailing spaces, got {name!r}."
        )
    return str(name)


def max_payload_bytes() -> int:
    """The default task backend's ``MAX_PAYLOAD_BYTES``: services obey the tasks' limit."""
    config = getattr(task_backends["default"], "config", None)
    return int(getattr(config, "max_payload_bytes", 1_000_000))


def checked_json(value: Any, subject: str) -> None:
    """Raise unless ``value`` is plain JSON of at most ``MAX_PAYLOAD_BYTES``."""
    problem = find_unserializable(value, subject)
    if problem:
        raise UnserializablePayload(f"{subject} must be JSON-serialisable: {problem}.")
    size = len(json.dumps(value, ensure_ascii=False).encode())
    limit = max_payload_bytes()
    if size > limit:
        raise PayloadTooLarge(
            f"{subject} takes {size} bytes as JSON, more than "
            f"OPTIONS['MAX_PAYLOAD_BYTES'] = {limit}."
        )
