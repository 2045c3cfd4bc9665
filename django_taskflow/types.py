"""Type aliases shared across the package."""

from __future__ import annotations

type JSONScalar = str | int | float | bool | None
type JSONValue = JSONScalar | list[JSONValue] | dict[str, JSONValue]
