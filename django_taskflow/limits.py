"""Concurrency caps and rate limits: the options, and the keys they group tasks by.

Pure: no database access. ``Concurrency`` and ``RateLimit`` are frozen value
objects, checked when they are built; :func:`gate_for` turns one call's
arguments into the texts stored on its row (``Task.gate_key`` and friends),
which the claim reads (see ``db/postgres.py``, ``claim_gated``).

A *group* is the task's path, plus the key's value when the limit has a
key: ``Concurrency(1, key="user_id")`` makes one group per user. Groups of
different tasks never share a limit.
"""

from __future__ import annotations

import hashlib
import inspect
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from functools import lru_cache
from typing import Any, ClassVar, Literal

from django_taskflow.exceptions import InvalidTaskOptions

type Strategy = Literal["fifo", "lifo", "priority", "random"]
type KeySpec = str | Callable[..., Any] | None

STRATEGIES = ("fifo", "lifo", "priority", "random")
# Longer keys are stored as a digest, so a group fits its column and index.
KEY_TEXT_MAX_LENGTH = 100
GROUP_MAX_LENGTH = 400


def _check_count(option: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidTaskOptions(f"{option} must be a whole number of at least 1, got {value!r}")


def _check_key(option: str, key: Any) -> None:
    if key is None or callable(key):
        return
    if not isinstance(key, str) or not key.isidentifier():
        raise InvalidTaskOptions(
            f"{option} key must be None, the name of one of the task's arguments or a "
            f"callable taking the task's arguments, got {key!r}"
        )


@dataclass(frozen=True, slots=True)
class Concurrency:
    """At most ``limit`` tasks of a group run at any instant, across all workers.

    ``key`` splits the task into groups: an argument's name
    (``key="user_id"``) or a callable called with the task's arguments by
    name (``key=lambda tenant, **_: tenant``); ``None`` makes the task one
    group. ``strategy`` picks the next waiting task of a group: ``"fifo"``
    (in the order they became ready, the default), ``"lifo"`` (newest
    first), ``"priority"`` (highest priority first) or ``"random"``.
    Presets: ``Concurrency.SERIAL`` (1) and ``Concurrency.LIMITED`` (3).
    """

    limit: int
    key: KeySpec = None
    strategy: Strategy = "fifo"

    SERIAL: ClassVar[Concurrency]
    LIMITED: ClassVar[Concurrency]

    def __post_init__(self) -> None:
        _check_count("Concurrency limit", self.limit)
        _check_key("Concurrency", self.key)
        if self.strategy not in STRATEGIES:
            raise InvalidTaskOptions(
                f"Concurrency strategy must be one of {', '.join(map(repr, STRATEGIES))}, "
                f"got {self.strategy!r}"
            )


@dataclass(frozen=True, slots=True)
class RateLimit:
    """At most ``limit`` attempts of a group start in any window of ``per``.

    Counted across all workers, in every sliding window (not per calendar
    minute). A task over the limit waits in the queue, and starts as soon
    as the window allows. ``key`` splits the task into groups as for
    :class:`Concurrency`. Presets: ``CONSERVATIVE`` (5/min), ``MODERATE``
    (10/min), ``AGGRESSIVE`` (50/min) and ``HOURLY`` (100/h).
    """

    limit: int
    per: timedelta
    key: KeySpec = None

    CONSERVATIVE: ClassVar[RateLimit]
    MODERATE: ClassVar[RateLimit]
    AGGRESSIVE: ClassVar[RateLimit]
    HOURLY: ClassVar[RateLimit]

    def __post_init__(self) -> None:
        _check_count("RateLimit limit", self.limit)
        if not isinstance(self.per, timedelta) or self.per <= timedelta(0):
            raise InvalidTaskOptions(
                "RateLimit per must be a timedelta longer than zero, such as "
                f"timedelta(minutes=1), got {self.per!r}"
            )
        _check_key("RateLimit", self.key)

    @property
    def seconds(self) -> float:
        return self.per.total_seconds()


Concurrency.SERIAL = Concurrency(1)
Concurrency.LIMITED = Concurrency(3)
RateLimit.CONSERVATIVE = RateLimit(5, per=timedelta(minutes=1))
RateLimit.MODERATE = RateLimit(10, per=timedelta(minutes=1))
RateLimit.AGGRESSIVE = RateLimit(50, per=timedelta(minutes=1))
RateLimit.HOURLY = RateLimit(100, per=timedelta(hours=1))


def key_problem(func: Callable[..., Any], takes_context: bool, key: KeySpec) -> str | None:
    """Why ``key`` cannot name an argument of ``func``, or None if it can (or is no name)."""
    if not isinstance(key, str):
        return None
    try:
        parameters = list(inspect.signature(func).parameters.values())
    except (TypeError, ValueError):
        return None  # no signature to read: checked at enqueue
    if takes_context:
        parameters = parameters[1:]
    named = [p for p in parameters if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
    if any(p.name == key for p in named) or any(p.kind is p.VAR_KEYWORD for p in parameters):
        return None
    names = ", ".join(p.name for p in named) or "none"
    return f"the task has no argument {key!r} (its arguments: {names})"


# -- at enqueue: what one call stores on its row ---------------------------------


@dataclass(frozen=True, slots=True)
class Gate:
    """The columns a limited task's row gets (``Task.gate_key`` and the rest)."""

    gate_key: str
    concurrency_key: str | None
    concurrency_limit: int | None
    concurrency_strategy: str | None
    rate_key: str | None
    rate_limit: int | None
    rate_seconds: float | None

    def as_row(self) -> tuple[Any, ...]:
        return (
            self.gate_key,
            self.concurrency_key,
            self.concurrency_limit,
            self.concurrency_strategy,
            self.rate_key,
            self.rate_limit,
            self.rate_seconds,
        )


# Columns of ``Gate.as_row``, in order: enqueue writes them after the others.
GATE_COLUMNS = (
    "gate_key",
    "concurrency_key",
    "concurrency_limit",
    "concurrency_strategy",
    "rate_key",
    "rate_limit",
    "rate_seconds",
)


@lru_cache(maxsize=1024)
def _signature(func: Callable[..., Any]) -> inspect.Signature:
    return inspect.signature(func)


def _arguments(
    func: Callable[..., Any], takes_context: bool, args: Sequence[Any], kwargs: Mapping[str, Any]
) -> dict[str, Any]:
    signature = _signature(func)
    bound = (
        signature.bind(None, *args, **kwargs) if takes_context else signature.bind(*args, **kwargs)
    )
    bound.apply_defaults()
    arguments = dict(bound.arguments)
    if takes_context:
        arguments.pop(next(iter(signature.parameters)))
    for parameter in signature.parameters.values():
        if parameter.kind is parameter.VAR_KEYWORD and parameter.name in arguments:
            arguments.update(arguments.pop(parameter.name))
    return arguments


def _key_text(value: Any, option: str) -> str:
    if isinstance(value, str):
        text = value
    else:
        try:
            text = json.dumps(value, sort_keys=True, allow_nan=False)
        except (TypeError, ValueError):
            raise InvalidTaskOptions(
                f"the {option} key must be a string, a number or another JSON value, got {value!r}"
            ) from None
    if len(text) > KEY_TEXT_MAX_LENGTH or "\x00" in text:
        text = "sha256:" + hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()
    return text


def _group(
    task_path: str,
    spec: KeySpec,
    option: str,
    arguments: Callable[[], dict[str, Any]],
) -> str:
    if spec is None:
        return task_path
    if isinstance(spec, str):
        found = arguments()
        if spec not in found:
            raise InvalidTaskOptions(
                f"{option} key {spec!r} names no argument of this call of {task_path}"
            )
        value = found[spec]
    else:
        try:
            value = spec(**arguments())
        except Exception as exc:
            raise InvalidTaskOptions(
                f"the {option} key function of {task_path} failed on this call's "
                f"arguments: {type(exc).__name__}: {exc}"
            ) from exc
    return f"{task_path}[{_key_text(value, option)}]"


def gate_for(
    *,
    task_path: str,
    func: Callable[..., Any],
    takes_context: bool,
    concurrency: Concurrency | None,
    rate_limit: RateLimit | None,
    args: Sequence[Any],
    kwargs: Mapping[str, Any],
) -> Gate | None:
    """The row's gate for one call, or None for a task with neither limit.

    The key is computed from the call's arguments bound to the function's
    signature (defaults applied), once, at enqueue.
    """
    if concurrency is None and rate_limit is None:
        return None
    cache: dict[str, Any] | None = None

    def arguments() -> dict[str, Any]:
        nonlocal cache
        if cache is None:
            cache = _arguments(func, takes_context, args, kwargs)
        return cache

    concurrency_key = (
        _group(task_path, concurrency.key, "concurrency", arguments) if concurrency else None
    )
    rate_key = _group(task_path, rate_limit.key, "rate_limit", arguments) if rate_limit else None
    if concurrency_key and rate_key:
        gate_key = f"{concurrency_key} {rate_key}"
    else:
        gate_key = concurrency_key or rate_key or ""
    if len(gate_key) > GROUP_MAX_LENGTH:
        gate_key = task_path[:200] + " sha256:" + hashlib.sha256(gate_key.encode()).hexdigest()
    return Gate(
        gate_key=gate_key,
        concurrency_key=concurrency_key,
        concurrency_limit=concurrency.limit if concurrency else None,
        concurrency_strategy=concurrency.strategy if concurrency else None,
        rate_key=rate_key,
        rate_limit=rate_limit.limit if rate_limit else None,
        rate_seconds=rate_limit.seconds if rate_limit else None,
    )
