"""Unions with several typed members (``Decimal | datetime``, ``Card | Transfer``).

Pure. A value is stored as the plain JSON of the member it is, with no tag,
so that the JSON form stays what an API client writes. It is read back as
the first member, in the union's order, whose reading of the stored JSON
writes that same JSON again: ``"2026-04-01"`` is a ``date`` in ``datetime |
date``, since a datetime would write ``"2026-04-01T00:00:00"``. An enqueue
whose value would be read back as another member (a ``str`` that reads as a
``Decimal`` in ``Decimal | str``, two dataclasses with the same fields) is
refused, naming both: the stored JSON alone cannot tell them apart. A
``Literal`` field in each dataclass (``kind: Literal["card"] = "card"``)
makes such a union readable.
"""

from __future__ import annotations

import json
import typing
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django_taskflow import typecheck
from django_taskflow.encoding.unfit import UNFIT, UnfitValue
from django_taskflow.exceptions import PayloadShapeError

if TYPE_CHECKING:
    from django_taskflow.encoding.scalars import Codec


@dataclass(frozen=True, slots=True)
class _Member:
    hint: Any
    runtime: type | None  # what isinstance() checks, if anything can
    codec: Codec | None  # None: a plain JSON member, checked, never converted

    @property
    def title(self) -> str:
        return typecheck.describe_type(self.hint)

    def holds(self, value: Any) -> bool:
        return self.runtime is not None and isinstance(value, self.runtime)

    def read(self, stored: Any) -> tuple[bool, Any]:
        """``(True, value)`` if ``stored`` is this member's JSON, as this member writes it."""
        if self.codec is None:
            return typecheck.find_mismatch(stored, self.hint, "") is None, stored
        try:
            loaded = self.codec.load(stored)
            again = self.codec.dump(loaded, "")
        except UNFIT:  # PayloadShapeError and UnfitValue are TypeErrors
            return False, None
        return _same_json(again, stored), loaded

    def write(self, value: Any, path: str) -> Any:
        """``value`` as this member stores it, in the form reading it writes again."""
        if self.codec is None:
            problem = typecheck.find_mismatch(value, self.hint, path)
            if problem:
                raise PayloadShapeError(problem)
            return value
        # A dict given for a dataclass is stored with its defaults filled in.
        return self.codec.dump(self.codec.load(self.codec.dump(value, path)), path)


def _same_json(first: Any, second: Any) -> bool:
    # Not ==: True == 1 and 1 == 1.0, which JSON tells apart.
    return json.dumps(first, sort_keys=True) == json.dumps(second, sort_keys=True)


def _runtime(hint: Any) -> type | None:
    hint = typecheck.unwrap(hint)
    if hint is None:
        return type(None)
    if typing.is_typeddict(hint):
        return dict
    origin = typing.get_origin(hint)
    if isinstance(origin, type):
        return origin
    return hint if isinstance(hint, type) else None


def compile_union(
    members: Sequence[Any], codecs: Sequence[Codec | None]
) -> tuple[Callable[[Any, str], Any], Callable[[Any], Any]]:
    """``(dump, load)`` of the union of ``members`` (with their codecs, or None)."""
    compiled = tuple(
        _Member(hint, _runtime(hint), codec) for hint, codec in zip(members, codecs, strict=True)
    )
    title = " | ".join(member.title for member in compiled)

    def pick(stored: Any) -> tuple[int, Any] | None:
        for index, member in enumerate(compiled):
            fits, value = member.read(stored)
            if fits:
                return index, value
        return None

    def dump(value: Any, path: str) -> Any:
        # The members the value is an instance of first: 5 is the int of Decimal | int.
        order = sorted(range(len(compiled)), key=lambda i: not compiled[i].holds(value))
        for index in order:
            try:
                stored = compiled[index].write(value, path)
            except UNFIT:
                continue
            break
        else:
            shown = typecheck.describe_value(value)
            raise PayloadShapeError(f"{path} is {shown}, expected {title}")
        picked = pick(stored)
        if picked is None or picked[0] != index:
            read_as = "nothing" if picked is None else compiled[picked[0]].title
            raise PayloadShapeError(
                f"{path} is {typecheck.describe_value(value)}, a {compiled[index].title}, but "
                f"its JSON {json.dumps(stored)[:80]} would be read back as {read_as}: "
                f"{title} cannot tell them apart once stored"
            )
        return stored

    def load(stored: Any) -> Any:
        picked = pick(stored)
        if picked is None:
            raise UnfitValue(f"is {typecheck.describe_value(stored)}, which fits none of {title}")
        return picked[1]

    return dump, load
