"""The arguments every operation shares: who acts (``by``) and why (``reason``)."""

from __future__ import annotations

from typing import Any

from django_taskflow.exceptions import InvalidQuery


def operator_name(by: Any) -> str:
    """``by`` as stored: a user's username, else its text (at most 255 characters)."""
    if by is None:
        return ""
    get_username = getattr(by, "get_username", None)
    text = get_username() if callable(get_username) else by
    if not isinstance(text, str):
        raise InvalidQuery(f"by must be a string or a user, got {by!r}.")
    return text[:255]


def reason_text(reason: Any) -> str:
    """``reason`` once known to be a string."""
    if not isinstance(reason, str):
        raise InvalidQuery(f"reason must be a string, got {reason!r}.")
    return reason
