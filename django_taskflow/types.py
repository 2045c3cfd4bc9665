"""Type aliases and type checks shared across the package (pure: no Django)."""

from __future__ import annotations

import math
from typing import Any

type JSONScalar = str | int | float | bool | None
type JSONValue = JSONScalar | list[JSONValue] | dict[str, JSONValue]


def is_finite_number(value: Any) -> bool:
    """True for an int or float that is not a bool, NaN or infinite.

    An int too large for a float (``10**400``) is not finite here: every
    number this package takes is used as a float.
    """
    if not isinstance(value, int | float) or isinstance(value, bool):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:
        return False
