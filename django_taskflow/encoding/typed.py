"""Typed values to and from JSON, by their annotations.

Pure: no database access. :func:`codec_for` compiles an annotation once into
a :class:`Codec`: ``dump`` turns a value into plain JSON (checking its
shape and naming the place that does not fit), ``load`` turns the stored
JSON back into the annotated type. Annotations that hold no typed value
(``int``, ``list[str]``, a plain class) compile to ``None``: such values
pass through unchanged, as before typed payloads existed.

Typed: dataclasses, ``TypedDict``, ``Enum``, ``datetime``, ``date``,
``Decimal``, ``UUID``, pydantic models when pydantic is installed, and
those inside ``X | None``, ``list[X]``, ``tuple[X, ...]``, ``dict[str, X]``
and unions of several members (``encoding/unions.py``). The codecs of
single values (datetime, Enum...) and :class:`Codec` itself are in
``encoding/scalars.py``.

A stored value that does not fit (JSON from the API, say) raises
:class:`UnfitValue`, which names where inside the value it went wrong.
"""

from __future__ import annotations

import dataclasses
import enum
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from functools import lru_cache
from typing import Any

from django_taskflow import typecheck
from django_taskflow.encoding import unions
from django_taskflow.encoding.scalars import SIMPLE, Codec, Dump, Load, enum_codec, wrong
from django_taskflow.encoding.unfit import UNFIT as _UNFIT
from django_taskflow.encoding.unfit import UnfitValue
from django_taskflow.encoding.unfit import unfit as _unfit
from django_taskflow.exceptions import PayloadShapeError


def _plain_check(expected: Any) -> Dump:
    """Check a plain JSON value against ``expected`` without converting it."""

    def dump(value: Any, path: str) -> Any:
        problem = typecheck.find_mismatch(value, expected, path)
        if problem:
            raise PayloadShapeError(problem)
        return value

    return dump


def _fields(
    hints: Mapping[str, Any], names: Sequence[str]
) -> tuple[tuple[str, Dump, Load | None], ...]:
    compiled: list[tuple[str, Dump, Load | None]] = []
    for name in names:
        hint = hints.get(name, Any)
        codec = codec_for(hint)
        if codec is None:
            compiled.append((name, _plain_check(hint), None))
        else:
            compiled.append((name, codec.dump, codec.load))
    return tuple(compiled)


def _dataclass_codec(kind: type) -> Codec:
    hints = typecheck.type_hints(kind)
    names = [field.name for field in dataclasses.fields(kind) if field.init]
    required = {
        field.name
        for field in dataclasses.fields(kind)
        if field.init
        and field.default is dataclasses.MISSING
        and field.default_factory is dataclasses.MISSING
    }
    fields = _fields(hints, names)
    loaders = tuple((name, load) for name, _, load in fields)
    title = kind.__qualname__

    def dump(value: Any, path: str) -> Any:
        if isinstance(value, kind):
            return {
                name: field_dump(getattr(value, name), f"{path}[{name!r}]")
                for name, field_dump, _ in fields
            }
        if isinstance(value, dict):
            missing = sorted(required - value.keys())
            if missing:
                raise PayloadShapeError(f"{path} is missing the field {missing[0]!r} of {title}")
            extra = sorted(map(repr, value.keys() - set(names)))
            if extra:
                raise PayloadShapeError(
                    f"{path} has the key {extra[0]} that {title} has no field for"
                )
            return {
                name: field_dump(value[name], f"{path}[{name!r}]")
                for name, field_dump, _ in fields
                if name in value
            }
        raise wrong(value, title, path)

    def load(stored: Any) -> Any:
        if type(stored) is not dict:
            raise UnfitValue(f"is {typecheck.describe_value(stored)}, expected {title}")
        values = {}
        for name, field_load in loaders:
            if name in stored:
                if field_load is None:
                    values[name] = stored[name]
                    continue
                # No cost until one raises (zero-cost try since Python 3.11).
                try:
                    values[name] = field_load(stored[name])
                except _UNFIT as exc:
                    raise _unfit(exc, title, stored[name], f"[{name!r}]") from None
        try:
            return kind(**values)
        except _UNFIT as exc:
            raise _unfit(exc, title, stored) from None

    return Codec(dump, load)


def _typeddict_codec(kind: type) -> Codec:
    hints = typecheck.type_hints(kind)
    required, optional = typecheck.typeddict_keys(kind, hints)
    fields = _fields(hints, sorted(required | optional))
    loaders = {name: load for name, _, load in fields}
    title = kind.__qualname__

    def dump(value: Any, path: str) -> Any:
        if not isinstance(value, dict):
            raise wrong(value, title, path)
        missing = sorted(required - value.keys())
        if missing:
            raise PayloadShapeError(
                f"{path} is missing the key {missing[0]!r} that {title} requires"
            )
        extra = sorted(map(repr, value.keys() - required - optional))
        if extra:
            raise PayloadShapeError(f"{path} has the key {extra[0]} that {title} does not define")
        return {
            name: field_dump(value[name], f"{path}[{name!r}]")
            for name, field_dump, _ in fields
            if name in value
        }

    def load(stored: Any) -> Any:
        if type(stored) is not dict:
            raise UnfitValue(f"is {typecheck.describe_value(stored)}, expected {title}")
        loaded = {}
        for key, item in stored.items():
            field_load = loaders.get(key)
            try:
                loaded[key] = item if field_load is None else field_load(item)
            except _UNFIT as exc:
                raise _unfit(exc, title, item, f"[{key!r}]") from None
        return loaded

    return Codec(dump, load)


def _optional_codec(inner: Codec) -> Codec:
    def dump(value: Any, path: str) -> Any:
        return None if value is None else inner.dump(value, path)

    def load(stored: Any) -> Any:
        return None if stored is None else inner.load(stored)

    return Codec(dump, load)


def _sequence_codec(inner: Codec, make: Callable[[Any], Any]) -> Codec:
    def dump(value: Any, path: str) -> Any:
        if not isinstance(value, list | tuple):
            raise wrong(value, "a list", path)
        return [inner.dump(item, f"{path}[{index}]") for index, item in enumerate(value)]

    inner_load = inner.load

    def load(stored: Any) -> Any:
        if type(stored) is not list:
            raise UnfitValue(f"is {typecheck.describe_value(stored)}, expected a list")
        try:
            return make([inner_load(item) for item in stored])
        except _UNFIT as exc:
            # Found again only on failure: the loop above stays a comprehension.
            index = next(i for i, item in enumerate(stored) if _fails(inner_load, item))
            raise _unfit(exc, "a list", stored[index], f"[{index}]") from None

    return Codec(dump, load)


def _fails(load: Load, item: Any) -> bool:
    try:
        load(item)
    except _UNFIT:
        return True
    return False


def _mapping_codec(inner: Codec) -> Codec:
    def dump(value: Any, path: str) -> Any:
        if not isinstance(value, dict):
            raise wrong(value, "a dict", path)
        return {key: inner.dump(item, f"{path}[{key!r}]") for key, item in value.items()}

    def load(stored: Any) -> Any:
        if type(stored) is not dict:
            raise UnfitValue(f"is {typecheck.describe_value(stored)}, expected a dict")
        loaded = {}
        for key, item in stored.items():
            try:
                loaded[key] = inner.load(item)
            except _UNFIT as exc:
                raise _unfit(exc, "a dict", item, f"[{key!r}]") from None
        return loaded

    return Codec(dump, load)


def _pydantic_codec(kind: Any) -> Codec | None:
    try:
        import pydantic  # type: ignore[import-not-found, unused-ignore]  # optional
    except ImportError:
        return None
    if not (isinstance(kind, type) and issubclass(kind, pydantic.BaseModel)):
        return None
    model_class: Any = kind

    def dump(value: Any, path: str) -> Any:
        try:
            model: Any = value if isinstance(value, kind) else model_class.model_validate(value)
        except pydantic.ValidationError as exc:
            raise PayloadShapeError(f"{path} is not a valid {kind.__qualname__}: {exc}") from None
        return model.model_dump(mode="json")

    def load(stored: Any) -> Any:
        try:
            return model_class.model_validate(stored)
        except pydantic.ValidationError as exc:
            raise UnfitValue(f"is not a valid {kind.__qualname__}: {exc}") from None

    return Codec(dump, load)


def _union_codec(expected: Any) -> Codec | None:
    members = typing.get_args(expected)
    others = [member for member in members if member not in (None, types.NoneType)]
    codecs = [codec_for(member) for member in others]
    if not any(codecs):
        return None  # nothing typed in it: plain JSON, checked as before
    inner = codecs[0]
    if len(others) == 1 and inner is not None:
        return _optional_codec(inner) if len(others) < len(members) else inner
    dump, load = unions.compile_union(members, [codec_for(member) for member in members])
    return Codec(dump, load)


@lru_cache(maxsize=1024)
def _compile(expected: Any) -> Codec | None:
    expected = typecheck.unwrap(expected)
    if expected in SIMPLE:
        return SIMPLE[expected]
    if isinstance(expected, type) and issubclass(expected, enum.Enum):
        return enum_codec(expected)
    if typing.is_typeddict(expected):
        return _typeddict_codec(expected)
    if isinstance(expected, type) and dataclasses.is_dataclass(expected):
        return _dataclass_codec(expected)
    origin = typing.get_origin(expected)
    if origin is typing.Union or origin is types.UnionType:
        return _union_codec(expected)
    args = typing.get_args(expected)
    if origin in (list, Sequence) and len(args) == 1:
        inner = codec_for(args[0])
        return None if inner is None else _sequence_codec(inner, list)
    if origin is tuple and len(args) == 2 and args[1] is Ellipsis:
        inner = codec_for(args[0])
        return None if inner is None else _sequence_codec(inner, tuple)
    if origin in (dict, Mapping) and len(args) == 2:
        inner = codec_for(args[1])
        return None if inner is None else _mapping_codec(inner)
    return _pydantic_codec(expected)


def codec_for(expected: Any) -> Codec | None:
    """The :class:`Codec` of the annotation ``expected``, or ``None`` for plain JSON."""
    try:
        return _compile(expected)
    except TypeError:  # an unhashable annotation: nothing typed to find in it
        return None
