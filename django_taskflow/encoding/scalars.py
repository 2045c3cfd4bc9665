"""The :class:`Codec` type, and the codecs of values stored as one JSON scalar.

Pure. ``datetime``, ``date``, ``Decimal`` and ``UUID`` are stored as text
(:data:`SIMPLE`, by annotation); an ``Enum`` member as its value. The
codecs of values made of others (dataclasses, lists, unions) are compiled
in ``encoding/typed.py``.
"""

from __future__ import annotations

import datetime
import decimal
import enum
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django_taskflow import typecheck
from django_taskflow.encoding.unfit import UNFIT as _UNFIT
from django_taskflow.encoding.unfit import UnfitValue
from django_taskflow.encoding.unfit import unfit as _unfit
from django_taskflow.exceptions import PayloadShapeError

type Dump = Callable[[Any, str], Any]
type Load = Callable[[Any], Any]


@dataclass(frozen=True, slots=True)
class Codec:
    """How one annotated type goes to JSON (``dump(value, path)``) and back (``load``)."""

    dump: Dump
    load: Load


def wrong(value: Any, expected: str, path: str) -> PayloadShapeError:
    """The error for ``value`` at ``path``, which is not the ``expected`` type."""
    shown = typecheck.describe_value(value)
    return PayloadShapeError(f"{path} is {shown}, expected {expected}")


def _scalar(
    kind: type,
    accepts: tuple[type, ...],
    to_json: Callable[[Any], Any],
    from_json: Load,
    *,
    numbers: bool = False,
) -> Codec:
    name = kind.__qualname__

    def dump(value: Any, path: str) -> Any:
        if isinstance(value, accepts) and not isinstance(value, bool):
            return to_json(value)
        raise wrong(value, name, path)

    return Codec(dump, _text_load(name, from_json, numbers=numbers))


def _text_load(name: str, from_json: Load, *, numbers: bool = False) -> Load:
    """``from_json``, for a value stored as text: anything else is an :class:`UnfitValue`.

    With ``numbers``, a JSON number is read as its text (a Decimal sent as
    ``12.5`` by an API client is ``Decimal("12.5")``, not the float's binary value).
    """

    def load(stored: Any) -> Any:
        kind = type(stored)
        if kind is not str:
            if not (numbers and kind in (int, float)):
                raise UnfitValue(f"is {typecheck.describe_value(stored)}, expected {name}")
            stored = str(stored)
        try:
            return from_json(stored)
        except _UNFIT as exc:
            raise _unfit(exc, name, stored) from None

    return load


def _isoformat(value: Any) -> Any:
    return value.isoformat()


_DATETIME = _scalar(
    datetime.datetime, (datetime.datetime,), _isoformat, datetime.datetime.fromisoformat
)


def _decimal(text: str) -> decimal.Decimal:
    try:
        return decimal.Decimal(text)
    except decimal.InvalidOperation:  # its message names only the signal's class
        raise ValueError("not a decimal number") from None


_DECIMAL = _scalar(decimal.Decimal, (decimal.Decimal, int), str, _decimal, numbers=True)
_UUID = _scalar(uuid.UUID, (uuid.UUID,), str, uuid.UUID)


def _date_codec() -> Codec:
    def dump(value: Any, path: str) -> Any:
        # A datetime is a date too, but its time would be lost: refuse it.
        if isinstance(value, datetime.date) and not isinstance(value, datetime.datetime):
            return value.isoformat()
        raise wrong(value, "date", path)

    return Codec(dump, _text_load("date", datetime.date.fromisoformat))


_DATE = _date_codec()
SIMPLE: dict[Any, Codec] = {
    datetime.datetime: _DATETIME,
    datetime.date: _DATE,
    decimal.Decimal: _DECIMAL,
    uuid.UUID: _UUID,
}


def enum_codec(kind: type[enum.Enum]) -> Codec:
    """Members stored as their values; a value given for a member is accepted."""
    members = list(kind)
    by_value = {member.value: member for member in members}

    def dump(value: Any, path: str) -> Any:
        if isinstance(value, kind):
            return value.value
        # Its value (what a form or the API gives) is accepted as the member.
        if not isinstance(value, bool) and value in by_value:
            return value
        choices = ", ".join(repr(member.value) for member in members[:10])
        raise wrong(value, f"a {kind.__qualname__} (one of {choices})", path)

    def load(stored: Any) -> Any:
        # A dict lookup: calling the Enum class costs several times more.
        try:
            member = by_value.get(stored)
            return kind(stored) if member is None else member
        except _UNFIT as exc:
            raise _unfit(exc, kind.__qualname__, stored) from None

    return Codec(dump, load)
