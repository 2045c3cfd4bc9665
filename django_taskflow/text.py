"""Make text storable: what PostgreSQL and UTF-8 refuse is escaped, the rest kept.

Pure: no database access. Error messages, tracebacks and progress details
come from code we do not control. Two things in them cannot be stored: a
NUL character (PostgreSQL text and jsonb refuse it) and a lone surrogate
such as ``"\\udcff"``, which is what ``surrogateescape`` makes of a
filename's undecodable byte (no UTF-8 encoding exists for it, on either
database). The rule, the same everywhere: each such character becomes the
backslash escape Python prints for it, ``\\x00`` for NUL and ``\\udcff``
for a surrogate, so the stored text still shows what was there. Every
other character is kept as it is.
"""

from __future__ import annotations

from typing import Any

NUL = "\x00"
NUL_ESCAPE = "\\x00"


def storable_text(text: str) -> str:
    """Return ``text`` with NUL and lone surrogates replaced by backslash escapes.

    Text that holds neither comes back unchanged (the same object).
    """
    if NUL in text:
        text = text.replace(NUL, NUL_ESCAPE)
    if text.isascii():
        return text
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text


def limited_text(text: str, max_chars: int) -> str:
    """Return ``text`` made storable and cut to ``max_chars`` characters, ending in "…" if cut."""
    text = storable_text(text)
    if len(text) <= max_chars:
        return text
    return text[: max_chars - 1] + "…"


def storable_json(value: Any, max_depth: int) -> Any:
    """Return ``value`` with :func:`storable_text` applied to every string and dict key.

    Lists, tuples (returned as lists) and dicts are copied only where
    something changed. Other values, and anything nested deeper than
    ``max_depth``, are returned as they are, for the JSON check that follows
    to accept or refuse.
    """
    return _storable(value, max_depth)


def _storable(value: Any, depth_left: int) -> Any:
    if isinstance(value, str):
        return storable_text(value)
    if depth_left <= 0:
        return value
    if isinstance(value, list | tuple):
        items = [_storable(item, depth_left - 1) for item in value]
        if isinstance(value, list) and all(
            new is old for new, old in zip(items, value, strict=True)
        ):
            return value
        return items
    if isinstance(value, dict):
        changed = False
        copy = {}
        for key, item in value.items():
            new_key = storable_text(key) if isinstance(key, str) else key
            new_item = _storable(item, depth_left - 1)
            changed = changed or new_key is not key or new_item is not item
            copy[new_key] = new_item
        return copy if changed else value
    return value
