"""Check a task's result against the function's return annotation.

Pure: no database access. :func:`return_type` reads the annotation,
:func:`to_json_value` turns dataclass instances into dicts, and
:func:`find_mismatch` describes the first place where the value does not fit.
Forms it cannot check (plain classes, TypeVars, Protocols) are accepted, so a
check never refuses a result for a reason the user cannot see.
"""

from __future__ import annotations

import dataclasses
import enum
import logging
import reprlib
import types
import typing
from collections.abc import Callable, Mapping, MutableMapping, MutableSequence, Sequence
from typing import Any

logger = logging.getLogger(__name__)


class _Sentinel(enum.Enum):
    NOT_DECLARED = "not declared"


NOT_DECLARED = _Sentinel.NOT_DECLARED
"""What :func:`return_type` gives when a function has no usable return annotation."""

# Checks for the scalar types. bool is an int subclass but is not accepted as
# one; an int is accepted as a float (PEP 484's numeric tower).
_SCALARS: dict[type, Callable[[Any], bool]] = {
    bool: lambda value: isinstance(value, bool),
    int: lambda value: isinstance(value, int) and not isinstance(value, bool),
    float: lambda value: isinstance(value, int | float) and not isinstance(value, bool),
    str: lambda value: isinstance(value, str),
}

# Forms that qualify the type inside them without changing which values fit.
# ReadOnly is new in Python 3.13; the package still supports 3.12.
_WRAPPERS = tuple(
    getattr(typing, name)
    for name in ("Annotated", "Required", "NotRequired", "ReadOnly")
    if hasattr(typing, name)
)
_SEQUENCES = (Sequence, MutableSequence)
_SCALAR_KINDS = {bool: "boolean", int: "number", float: "number", str: "string"}
_ANY_KIND = frozenset({"null", "boolean", "number", "string", "array", "object", None})
_MAPPINGS = (dict, Mapping, MutableMapping)


def return_type(func: Callable[..., Any]) -> Any:
    """Return ``func``'s resolved return annotation, or :data:`NOT_DECLARED`.

    Never raises: an annotation that cannot be resolved (an undefined name,
    say) is logged at DEBUG and treated as not declared. ``-> None`` gives
    ``NoneType``.
    """
    try:
        hints = typing.get_type_hints(func)
    except (NameError, TypeError, AttributeError, SyntaxError) as exc:
        logger.debug("Cannot resolve the return annotation of %r: %s", func, exc)
        return NOT_DECLARED
    return hints.get("return", NOT_DECLARED)


def to_json_value(value: Any) -> Any:
    """Return ``value`` with dataclass instances turned into dicts, at any depth.

    Follows :func:`dataclasses.asdict` and also looks inside lists, tuples and
    dicts; tuples stay tuples. Everything else is returned as it is.
    """
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    if isinstance(value, list | tuple):
        items = [to_json_value(item) for item in value]
        if hasattr(value, "_fields"):
            return type(value)(*items)  # a named tuple takes its fields one by one, as in asdict
        return type(value)(items)
    if isinstance(value, dict):
        return {key: to_json_value(item) for key, item in value.items()}
    return value


def find_mismatch(value: Any, expected: Any, path: str = "the result") -> str | None:
    """Return where ``value`` does not fit the type ``expected``, or ``None`` if it does.

    ``value`` must already have gone through :func:`to_json_value`, so a
    dataclass type expects a dict of its fields, and a tuple type accepts a
    list. The message names the path, e.g. ``"the result['items'][2] is str
    'x', expected int"``.
    """
    expected = unwrap(expected)
    if expected is Any or expected is object:
        return None
    if expected is None or expected is types.NoneType:
        return None if value is None else _wrong(value, expected, path)
    if isinstance(expected, type) and expected in _SCALARS:
        return None if _SCALARS[expected](value) else _wrong(value, expected, path)
    origin = typing.get_origin(expected)
    if origin is typing.Union or origin is types.UnionType:
        return _check_union(value, expected, path)
    if origin is typing.Literal:
        return _check_literal(value, expected, path)
    if typing.is_typeddict(expected):
        return _check_typeddict(value, expected, path)
    if _is_dataclass_type(expected):
        return _check_dataclass(value, expected, path)
    return _check_container(value, expected, path)


def unwrap(expected: Any) -> Any:
    """Strip what only names or qualifies another type: Annotated, NewType, ``type`` aliases..."""
    while True:
        if typing.get_origin(expected) in _WRAPPERS:
            expected = typing.get_args(expected)[0]
        elif isinstance(expected, typing.NewType):
            expected = expected.__supertype__
        elif isinstance(expected, typing.TypeAliasType):
            expected = expected.__value__
        else:
            return expected


def _check_union(value: Any, expected: Any, path: str) -> str | None:
    members = typing.get_args(expected)
    if any(find_mismatch(value, member, path) is None for member in members):
        return None
    kind = _json_kind(value)
    candidates = [member for member in members if kind in _json_kinds_held(member)]
    if kind in ("array", "object") and len(candidates) == 1:
        # Only one member can hold a list (or a dict): its message points inside
        # the value, where "expected A | B" would not.
        return find_mismatch(value, candidates[0], path)
    return _wrong(value, expected, path)


def _json_kind(value: Any) -> str | None:
    """Return the kind of JSON value ``value`` is, or None for a non-JSON value."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list | tuple):
        return "array"
    return "object" if isinstance(value, dict) else None


def _json_kinds_held(expected: Any) -> frozenset[str | None]:
    """Return the kinds of JSON value that a value of type ``expected`` can be."""
    expected = unwrap(expected)
    origin = typing.get_origin(expected)
    if origin is typing.Union or origin is types.UnionType:
        return frozenset().union(*map(_json_kinds_held, typing.get_args(expected)))
    if origin is typing.Literal:
        return frozenset(map(_json_kind, typing.get_args(expected)))
    container = origin or expected
    if container is None or container is types.NoneType:
        return frozenset({"null"})
    if isinstance(container, type) and container in _SCALAR_KINDS:
        return frozenset({_SCALAR_KINDS[container]})
    if container in (list, tuple, *_SEQUENCES):
        return frozenset({"array"})
    if container in _MAPPINGS or typing.is_typeddict(container) or _is_dataclass_type(container):
        return frozenset({"object"})
    return _ANY_KIND


def _check_literal(value: Any, expected: Any, path: str) -> str | None:
    # Compare types too: True == 1, but Literal[1] does not accept True.
    allowed = typing.get_args(expected)
    if any(type(value) is type(option) and value == option for option in allowed):
        return None
    return _wrong(value, expected, path)


def _check_typeddict(value: Any, expected: type, path: str) -> str | None:
    if not isinstance(value, dict):
        return _wrong(value, expected, path)
    name = expected.__qualname__
    hints = type_hints(expected)
    required, optional = typeddict_keys(expected, hints)
    missing = sorted(required - set(value))
    if missing:
        return f"{path} is missing the key {missing[0]!r} that {name} requires"
    extra = sorted(map(repr, set(value) - required - optional))
    if extra:
        return f"{path} has the key {extra[0]} that {name} does not define"
    return _check_items(value, hints, path)


def typeddict_keys(cls: Any, hints: Mapping[str, Any]) -> tuple[set[str], set[str]]:
    """Return the required and the optional keys of a TypedDict class."""
    required, optional = set(cls.__required_keys__), set(cls.__optional_keys__)
    # Under ``from __future__ import annotations`` the class cannot see Required
    # and NotRequired inside its string annotations; the resolved hints can.
    for key, hint in hints.items():
        marker = typing.get_origin(hint)
        if marker is typing.NotRequired:
            required.discard(key)
            optional.add(key)
        elif marker is typing.Required:
            optional.discard(key)
            required.add(key)
    return required, optional


def _is_dataclass_type(expected: Any) -> bool:
    return isinstance(expected, type) and dataclasses.is_dataclass(expected)


def _check_dataclass(value: Any, expected: type, path: str) -> str | None:
    if not isinstance(value, dict):
        return _wrong(value, expected, path)
    name = expected.__qualname__
    names = {field.name for field in dataclasses.fields(expected)}
    missing = sorted(names - set(value))
    if missing:
        return f"{path} is missing the field {missing[0]!r} of {name}"
    extra = sorted(map(repr, set(value) - names))
    if extra:
        return f"{path} has the key {extra[0]} that {name} has no field for"
    return _check_items(value, type_hints(expected), path)


def _check_items(value: dict[str, Any], hints: Mapping[str, Any], path: str) -> str | None:
    for key, item in value.items():
        problem = find_mismatch(item, hints.get(key, Any), f"{path}[{key!r}]")
        if problem:
            return problem
    return None


def _check_container(value: Any, expected: Any, path: str) -> str | None:
    container = typing.get_origin(expected) or expected
    args = typing.get_args(expected)
    if container is list or container in _SEQUENCES:
        accepted = list if container is list else list | tuple
        if not isinstance(value, accepted):
            return _wrong(value, expected, path)
        return _check_each(value, args[0] if args else Any, path)
    if container is tuple:
        if not isinstance(value, list | tuple):
            return _wrong(value, expected, path)
        return _check_tuple(value, expected, path)
    if container in _MAPPINGS:
        if not isinstance(value, dict):
            return _wrong(value, expected, path)
        return _check_mapping(value, args, path)
    # A class or form we cannot check (a TypeVar, a Protocol, a plain class): accept.
    return None


def _check_each(items: Sequence[Any], item_type: Any, path: str) -> str | None:
    for index, item in enumerate(items):
        problem = find_mismatch(item, item_type, f"{path}[{index}]")
        if problem:
            return problem
    return None


def _check_tuple(value: Sequence[Any], expected: Any, path: str) -> str | None:
    if typing.get_origin(expected) is None:
        return None  # a bare ``tuple``: the container is all there is to check
    args = typing.get_args(expected)
    if len(args) == 2 and args[1] is Ellipsis:
        return _check_each(value, args[0], path)
    if len(value) != len(args):
        return f"{path} has {len(value)} items, expected {len(args)} ({_describe(expected)})"
    for index, (item, item_type) in enumerate(zip(value, args, strict=True)):
        problem = find_mismatch(item, item_type, f"{path}[{index}]")
        if problem:
            return problem
    return None


def _check_mapping(value: dict[Any, Any], args: tuple[Any, ...], path: str) -> str | None:
    key_type, item_type = args if len(args) == 2 else (Any, Any)
    for key, item in value.items():
        problem = find_mismatch(key, key_type, f"{path} key {key!r}") or find_mismatch(
            item, item_type, f"{path}[{key!r}]"
        )
        if problem:
            return problem
    return None


def type_hints(cls: type) -> Mapping[str, Any]:
    try:
        return typing.get_type_hints(cls, include_extras=True)
    except (NameError, TypeError, AttributeError, SyntaxError) as exc:
        # The keys were still checked; values whose types cannot be resolved are accepted.
        logger.debug("Cannot resolve the annotations of %r: %s", cls, exc)
        return {}


def _wrong(value: Any, expected: Any, path: str) -> str:
    return f"{path} is {describe_value(value)}, expected {_describe(expected)}"


def describe_value(value: Any) -> str:
    """A value's type and a short repr, as error messages show it: ``str 'x'``."""
    return f"{type(value).__name__} {reprlib.repr(value)}"


def describe_type(expected: Any) -> str:
    """A type as error messages show it: ``Decimal``, ``datetime | None``."""
    return _describe(expected)


def _describe(expected: Any) -> str:
    if expected is None or expected is types.NoneType:
        return "None"
    if isinstance(expected, type):
        return expected.__qualname__
    return repr(expected).replace("typing.", "").replace("collections.abc.", "")
