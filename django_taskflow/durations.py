"""Durations as operators write them: ``30d``, ``12h``, ``15m``, ``45s``, ``2w``.

Pure: no models, no database. Used by ``OPTIONS["RETENTION"]`` (``conf.py``)
and by the ``taskflow`` command's ``--older-than`` and ``--since``.
"""

from __future__ import annotations

import re
from datetime import timedelta

UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 604_800}
_PATTERN = re.compile(r"(\d+)\s*([smhdw])")

EXAMPLES = "30d, 12h, 15m, 45s or 2w"


def parse_duration(text: str) -> timedelta:
    """Return the ``timedelta`` that ``text`` (e.g. ``"30d"`` or ``"1h30m"``) spells.

    Raises ``ValueError`` naming the text for anything else, for zero and
    for a duration too long to be a date offset.
    """
    if not isinstance(text, str):
        raise ValueError(f"a duration must be text such as {EXAMPLES}, got {text!r}")
    compact = text.strip().lower()
    parts = _PATTERN.findall(compact)
    if not compact or "".join(number + unit for number, unit in parts) != compact.replace(" ", ""):
        raise ValueError(f"{text!r} is not a duration: write a number and a unit, as {EXAMPLES}")
    seconds = sum(int(number) * UNITS[unit] for number, unit in parts)
    if seconds <= 0:
        raise ValueError(f"a duration must be longer than zero, got {text!r}")
    try:
        return timedelta(seconds=seconds)
    except OverflowError as exc:
        raise ValueError(f"{text!r} is too long a duration") from exc


def format_duration(value: timedelta) -> str:
    """``value`` in the largest units that keep it exact: ``timedelta(hours=36)`` → ``1d12h``."""
    seconds = int(value.total_seconds())
    parts = []
    for unit in ("d", "h", "m", "s"):
        count, seconds = divmod(seconds, UNITS[unit])
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts) or "0s"
