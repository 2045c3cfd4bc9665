"""Pure decisions about a failing service: how long to wait, when to give up.

No database: the runner stores what these return.
"""

from __future__ import annotations

import traceback
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from django_taskflow.text import storable_text

BACKOFF_FIRST_SECONDS = 0.5
BACKOFF_MAX_SECONDS = 60.0
# Errors kept on the service row, newest last.
KEPT_ERRORS = 20
TRACEBACK_CHARS = 4000


def backoff(failures_in_a_row: int) -> float:
    """Seconds to wait before the next try: 0.5 s, doubling, at most 60 s."""
    exponent = max(0, min(failures_in_a_row - 1, 16))
    return float(min(BACKOFF_FIRST_SECONDS * 2**exponent, BACKOFF_MAX_SECONDS))


def restart_times(previous: Sequence[str], failed_at: datetime, window_seconds: float) -> list[str]:
    """The failure times still inside the window, with this one added (ISO text)."""
    kept = [
        stamp
        for stamp in previous
        if (failed_at - datetime.fromisoformat(stamp)).total_seconds() < window_seconds
    ]
    return [*kept, failed_at.isoformat()]


def error_entry(where: str, exc: BaseException, at: datetime) -> dict[str, Any]:
    """The stored form of one handler error."""
    return {
        "at": at.isoformat(),
        "handler": where,
        "error_class": f"{type(exc).__module__}.{type(exc).__qualname__}",
        "message": storable_text(str(exc))[:1000],
        "traceback": storable_text("".join(traceback.format_exception(exc)))[-TRACEBACK_CHARS:],
    }


def owner_lost_entry(previous_owner: str, at: datetime) -> dict[str, Any]:
    """The stored form of a takeover from an owner that stopped renewing its lease."""
    message = (
        f"the worker {previous_owner} stopped renewing the lease while it ran the service "
        "(it died, or lost the database)"
    )
    return {
        "at": at.isoformat(),
        "handler": "worker",
        "error_class": "OwnerLost",
        "message": storable_text(message)[:1000],
        "traceback": "",
    }


def kept_errors(previous: Sequence[dict[str, Any]], entry: dict[str, Any]) -> list[dict[str, Any]]:
    return [*previous, entry][-KEPT_ERRORS:]
