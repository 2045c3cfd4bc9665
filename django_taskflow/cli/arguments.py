"""argparse ``type=`` functions: bad input is refused where it is given, naming it.

An ``ArgumentTypeError`` becomes Django's ``CommandError`` (exit code 2
from a shell: a usage error), with the option's name in the message.
"""

from __future__ import annotations

import argparse
import uuid
from collections.abc import Callable, Collection
from datetime import UTC, datetime, timedelta

from django.utils import timezone
from django.utils.dateparse import parse_datetime

from django_taskflow.durations import EXAMPLES, parse_duration
from django_taskflow.states import CANCELLABLE, FINISHED, Status

# What `retry` takes: failed tasks, and queued ones waiting for their run_after.
RETRIABLE = (Status.FAILED, Status.QUEUED)


def duration(text: str) -> timedelta:
    """``30d``, ``12h``, ``15m``…"""
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def moment(text: str) -> datetime | timedelta:
    """A duration (that long ago) or an ISO 8601 date and time (UTC when it names no zone)."""
    try:
        return parse_duration(text)
    except ValueError:
        pass
    try:
        value = parse_datetime(text)
    except ValueError:
        value = None
    if value is None:
        raise argparse.ArgumentTypeError(
            f"{text!r} is neither a duration ({EXAMPLES}: that long ago) nor an ISO date and "
            "time such as 2026-12-01T08:00"
        )
    return timezone.make_aware(value, UTC) if timezone.is_naive(value) else value


def statuses(text: str) -> list[str]:
    """Comma-separated statuses: ``queued,running``."""
    values = [value.strip() for value in text.split(",") if value.strip()]
    wrong = [value for value in values if value not in Status.values]
    if wrong or not values:
        raise argparse.ArgumentTypeError(
            f"unknown status {', '.join(wrong) or text!r}: use one or more of "
            f"{', '.join(Status.values)}, separated by commas"
        )
    return values


def statuses_among(allowed: Collection[str], refusal: str) -> Callable[[str], list[str]]:
    """A ``type=`` for comma-separated statuses, each one of ``allowed``.

    ``refusal`` says why another is refused; ``{wrong}`` and ``{allowed}``
    in it name the statuses given and those allowed.
    """

    def parse(text: str) -> list[str]:
        values = statuses(text)
        wrong = [value for value in values if value not in allowed]
        if wrong:
            raise argparse.ArgumentTypeError(
                refusal.format(wrong=", ".join(wrong), allowed=", ".join(sorted(allowed)))
            )
        return values

    return parse


# What pruning deletes.
finished_statuses = statuses_among(
    FINISHED, "{wrong} tasks are never pruned: use {allowed}, separated by commas"
)
cancellable_statuses = statuses_among(
    CANCELLABLE,
    "status must be 'queued', 'running' or both: only those can be cancelled, got {wrong}",
)
requeuable_statuses = statuses_among(
    FINISHED,
    "{wrong} tasks are not requeued: only finished ones ({allowed}) are; "
    "cancel a queued or running task first",
)
retriable_statuses = statuses_among(
    RETRIABLE,
    "{wrong} tasks are not retried: retry takes failed tasks, and queued ones waiting for "
    "their run_after; requeue runs a finished task again",
)


def task_id(text: str) -> uuid.UUID:
    """A task's id, a UUID."""
    try:
        return uuid.UUID(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{text!r} is not a task id (a UUID)") from exc


def positive_int(text: str) -> int:
    """A whole number of at least 1."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number of at least 1, got {text!r}")
    return value


def queue_limit(text: str) -> int | None:
    """A limit of at least 1, or ``none`` to go back to the setting."""
    if text.lower() == "none":
        return None
    try:
        return positive_int(text)
    except argparse.ArgumentTypeError as exc:
        raise argparse.ArgumentTypeError(
            f"must be a whole number of at least 1, or none (back to the setting), got {text!r}"
        ) from exc


def seconds(text: str) -> float:
    """Seconds greater than zero, or a duration such as ``5m``."""
    try:
        value = float(text)
    except ValueError:
        return duration(text).total_seconds()
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be seconds greater than 0, got {text!r}")
    return value
