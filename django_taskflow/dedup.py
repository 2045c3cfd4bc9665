"""Dedup options and the keys they derive from a call: pure, no database.

:class:`Dedup` says which calls of a task are duplicates of each other and
for how long; ``unique=True`` (a plain ``bool`` on the definition) uses
:func:`input_key`. A key is the SHA-256 of the task's path and a canonical
JSON text of what identifies the call: the arguments bound to the
function's signature (so ``f(1, b=2)`` and ``f(a=1, b=2)`` are one call),
some of them (:meth:`Dedup.by_fields`), or the caller's own ``key=``.
Canonical means sorted keys and ASCII-only escapes, so the same call gives
the same key in every process, whatever text it holds.
"""

from __future__ import annotations

import enum
import hashlib
import inspect
import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from functools import lru_cache
from typing import Any

from django_taskflow.exceptions import InvalidTaskOptions
from django_taskflow.payloads import find_unserializable

# ensure_ascii: a lone surrogate or a NUL becomes a \u escape instead of
# failing to encode, so hashing never raises on text the payload check let by.
_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=True)


class DedupBy(enum.StrEnum):
    """What identifies a call for deduplication."""

    INPUT = "input"
    FIELDS = "fields"
    KEY = "key"


def _seconds(value: Any, option: str) -> float:
    """Seconds of a positive ``timedelta`` or number; :class:`InvalidTaskOptions` otherwise."""
    if isinstance(value, timedelta):
        seconds = value.total_seconds()
    elif isinstance(value, int | float) and not isinstance(value, bool):
        seconds = float(value)
    else:
        seconds = math.nan
    if not math.isfinite(seconds) or seconds <= 0:
        raise InvalidTaskOptions(
            f"{option} must be a positive timedelta (or a number of seconds), got {value!r}."
        )
    return seconds


@dataclass(frozen=True, slots=True, kw_only=True)
class Dedup:
    """Which enqueues of a task are duplicates, and for how long.

    Build one with :meth:`by_input`, :meth:`by_fields` or :meth:`by_key`.
    A duplicate enqueue returns the existing task's result, with
    ``result.deduplicated`` true, and inserts nothing. The key is held from
    the first enqueue until ``ttl`` passes, whatever the task's outcome.

    With ``debounce``, calls are merged into the task while it waits: each one replaces its arguments and
    postpones it to ``debounce`` after the latest call, but never past
    ``ttl`` after the first. Once it has started, the next call makes a new
    task.
    """

    by: DedupBy
    ttl: float  # seconds
    fields: tuple[str, ...] = ()
    debounce: float | None = None  # seconds

    def __post_init__(self) -> None:
        if self.by not in DedupBy.__members__.values():
            raise InvalidTaskOptions(
                f"by of Dedup must be one of {', '.join(map(repr, DedupBy))}, got {self.by!r}."
            )
        name = f"Dedup.by_{self.by}"
        _seconds(self.ttl, f"ttl of {name}")
        if self.debounce is None:
            return
        _seconds(self.debounce, f"debounce of {name}")
        if self.debounce > self.ttl:
            raise InvalidTaskOptions(
                f"debounce of {name} must not be longer than its ttl (the longest a "
                f"burst may postpone the task), got debounce={self.debounce:g} s and "
                f"ttl={self.ttl:g} s."
            )

    @classmethod
    def by_input(
        cls, *, ttl: timedelta | float, debounce: timedelta | float | None = None
    ) -> Dedup:
        """Calls with the same arguments (bound to the signature, defaults included).

        With ``debounce``, a burst of identical calls runs once, when it has
        been quiet for ``debounce``.
        """
        return cls(
            by=DedupBy.INPUT,
            ttl=_seconds(ttl, "ttl of Dedup.by_input"),
            debounce=None if debounce is None else _seconds(debounce, "debounce of Dedup.by_input"),
        )

    @classmethod
    def by_fields(
        cls,
        fields: Sequence[str],
        *,
        ttl: timedelta | float,
        debounce: timedelta | float | None = None,
    ) -> Dedup:
        """Calls whose named parameters (``fields``) have the same values."""
        if (
            isinstance(fields, str)
            or not isinstance(fields, Sequence)
            or not fields
            or not all(isinstance(field, str) and field for field in fields)
            or len(set(fields)) != len(fields)
        ):
            raise InvalidTaskOptions(
                "fields of Dedup.by_fields must be a non-empty list of distinct parameter "
                f"names, got {fields!r}."
            )
        return cls(
            by=DedupBy.FIELDS,
            ttl=_seconds(ttl, "ttl of Dedup.by_fields"),
            fields=tuple(fields),
            debounce=None
            if debounce is None
            else _seconds(debounce, "debounce of Dedup.by_fields"),
        )

    @classmethod
    def by_key(cls, *, ttl: timedelta | float, debounce: timedelta | float | None = None) -> Dedup:
        """Calls enqueued with the same ``key=`` (``task.using(key=...)``)."""
        return cls(
            by=DedupBy.KEY,
            ttl=_seconds(ttl, "ttl of Dedup.by_key"),
            debounce=None if debounce is None else _seconds(debounce, "debounce of Dedup.by_key"),
        )


@dataclass(frozen=True, slots=True)
class _Parameters:
    """What key computation needs from a signature, read once per function."""

    signature: inspect.Signature
    passes_context: bool
    names: frozenset[str]  # parameters a field may name
    takes_any_keyword: bool  # it has **kwargs, whose entries may be fields too
    json_defaults: Mapping[str, Any]  # defaults that are plain JSON, applied to keys


@lru_cache(maxsize=1024)
def _parameters(func: Callable[..., Any], takes_context: bool) -> _Parameters | None:
    try:
        signature = inspect.signature(func)
    except (TypeError, ValueError):
        return None
    parameters = list(signature.parameters.values())
    if takes_context:
        parameters = parameters[1:]
    variadic = (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)
    return _Parameters(
        signature=signature,
        passes_context=takes_context,
        names=frozenset(p.name for p in parameters if p.kind not in variadic),
        takes_any_keyword=any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters),
        # A default that is not JSON (an object) has no stable text in every
        # process: it is left out of the key, as if not given.
        json_defaults={
            p.name: p.default
            for p in parameters
            if p.default is not inspect.Parameter.empty
            and find_unserializable(p.default, p.name) is None
        },
    )


def missing_fields(
    func: Callable[..., Any], takes_context: bool, fields: Sequence[str]
) -> list[str]:
    """The ``fields`` that name no parameter of ``func`` (none when it takes ``**kwargs``)."""
    parameters = _parameters(func, takes_context)
    if parameters is None or parameters.takes_any_keyword:
        return []
    return [field for field in fields if field not in parameters.names]


def bound_arguments(
    func: Callable[..., Any], takes_context: bool, args: Sequence[Any], kwargs: Mapping[str, Any]
) -> dict[str, Any]:
    """The call as ``{parameter: value}``, with JSON defaults, ``**kwargs`` entries flattened.

    The arguments have already been checked against the signature.
    """
    parameters = _parameters(func, takes_context)
    if parameters is None:
        return {"args": list(args), "kwargs": dict(kwargs)}
    if parameters.passes_context:
        arguments = dict(parameters.signature.bind(None, *args, **kwargs).arguments)
        arguments.pop(next(iter(parameters.signature.parameters)))
    else:
        arguments = dict(parameters.signature.bind(*args, **kwargs).arguments)
    flat: dict[str, Any] = dict(parameters.json_defaults)
    for name, value in arguments.items():
        kind = parameters.signature.parameters[name].kind
        if kind is inspect.Parameter.VAR_KEYWORD:
            flat.update(value)
        else:
            flat[name] = value
    return flat


def _digest(task_path: str, kind: str, identity: Any) -> str:
    return hashlib.sha256(_CANONICAL.encode([task_path, kind, identity]).encode()).hexdigest()


def input_key(
    task_path: str,
    func: Callable[..., Any],
    takes_context: bool,
    args: Sequence[Any],
    kwargs: Mapping[str, Any],
) -> str:
    """The key of a call by all its arguments (``Dedup.by_input`` and ``unique=True``)."""
    return _digest(task_path, DedupBy.INPUT, bound_arguments(func, takes_context, args, kwargs))


def dedup_key(
    dedup: Dedup,
    task_path: str,
    func: Callable[..., Any],
    takes_context: bool,
    args: Sequence[Any],
    kwargs: Mapping[str, Any],
    key: str | None,
) -> str:
    """The key that ``dedup`` derives from one call.

    Raises :class:`InvalidTaskOptions` for ``Dedup.by_key`` without a ``key``.
    """
    if dedup.by == DedupBy.INPUT:
        return input_key(task_path, func, takes_context, args, kwargs)
    if dedup.by == DedupBy.FIELDS:
        bound = bound_arguments(func, takes_context, args, kwargs)
        # A field not given (and without a JSON default) is absent from the
        # key: distinct from any value, even null.
        chosen = {field: bound[field] for field in dedup.fields if field in bound}
        return _digest(task_path, DedupBy.FIELDS, chosen)
    if key is None:
        raise InvalidTaskOptions(
            f"{task_path} deduplicates with Dedup.by_key, so each enqueue needs a key: "
            "call task.using(key=...).enqueue(...)."
        )
    return _digest(task_path, DedupBy.KEY, key)
