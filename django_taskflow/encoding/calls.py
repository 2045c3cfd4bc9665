"""A call's typed arguments and a task's typed result, by the function's annotations.

At enqueue :func:`dump_call` turns typed arguments into plain JSON, and
refuses a wrong shape naming the parameter and the field; in the worker
:func:`load_call` upgrades a payload stored by an older version of the
task (``@task(version=2, upgrade=...)``) and turns the JSON back into the
annotated types. :func:`dump_result` and :func:`load_result` do the same
for the return value. A function without typed annotations costs one
cached lookup.
"""

from __future__ import annotations

import inspect
import logging
import typing
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from django_taskflow.encoding.scalars import Codec
from django_taskflow.encoding.typed import codec_for
from django_taskflow.encoding.unfit import UnfitValue
from django_taskflow.exceptions import PayloadShapeError, PayloadVersionError

logger = logging.getLogger(__name__)

_POSITIONAL = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)

type Upgrade = Callable[[list[Any], dict[str, Any], int], tuple[list[Any], dict[str, Any]]]


@dataclass(frozen=True, slots=True)
class _CallCodec:
    """The typed parameters of one function: by position, by name, and ``*args``."""

    positional: tuple[tuple[str, Codec | None], ...]
    by_name: Mapping[str, Codec]
    rest: Codec | None  # of *args

    def _at(self, index: int) -> tuple[str, Codec | None]:
        if index < len(self.positional):
            return self.positional[index]
        return f"args[{index}]", self.rest

    def dump(
        self, args: Sequence[Any], kwargs: Mapping[str, Any]
    ) -> tuple[list[Any], dict[str, Any]]:
        dumped_args = []
        for index, value in enumerate(args):
            name, codec = self._at(index)
            dumped_args.append(value if codec is None else codec.dump(value, name))
        dumped_kwargs = {}
        for name, value in kwargs.items():
            codec = self.by_name.get(name)
            dumped_kwargs[name] = value if codec is None else codec.dump(value, name)
        return dumped_args, dumped_kwargs

    def load(
        self, args: Sequence[Any], kwargs: Mapping[str, Any]
    ) -> tuple[list[Any], dict[str, Any]]:
        loaded_args = []
        for index, value in enumerate(args):
            codec = self._at(index)[1]
            loaded_args.append(value if codec is None else codec.load(value))
        loaded_kwargs = {}
        for name, value in kwargs.items():
            codec = self.by_name.get(name)
            loaded_kwargs[name] = value if codec is None else codec.load(value)
        return loaded_args, loaded_kwargs

    def unfit(
        self, args: Sequence[Any], kwargs: Mapping[str, Any]
    ) -> tuple[dict[int, tuple[str, UnfitValue]], dict[str, UnfitValue]]:
        """Each stored argument that cannot be read as its type: by position, by name."""
        by_position = {}
        for index, value in enumerate(args):
            name, codec = self._at(index)
            problem = _unfit(codec, value)
            if problem is not None:
                by_position[index] = (name, problem)
        by_name = {}
        for name, value in kwargs.items():
            problem = _unfit(self.by_name.get(name), value)
            if problem is not None:
                by_name[name] = problem
        return by_position, by_name


def _unfit(codec: Codec | None, value: Any) -> UnfitValue | None:
    if codec is None:
        return None
    try:
        codec.load(value)
    except UnfitValue as exc:
        return exc
    return None


def _hints(func: Callable[..., Any]) -> dict[str, Any]:
    try:
        return typing.get_type_hints(func)
    except (NameError, TypeError, AttributeError, SyntaxError) as exc:
        logger.debug("Cannot resolve the annotations of %r: %s", func, exc)
        return {}


@lru_cache(maxsize=1024)
def _call_codec(func: Callable[..., Any], takes_context: bool) -> _CallCodec | None:
    try:
        parameters = list(inspect.signature(func).parameters.values())
    except (TypeError, ValueError):
        return None
    if takes_context:
        parameters = parameters[1:]
    hints = _hints(func)
    codecs = {p.name: codec_for(hints[p.name]) if p.name in hints else None for p in parameters}
    if not any(codecs.values()):
        return None
    rest = next(
        (codecs[p.name] for p in parameters if p.kind is inspect.Parameter.VAR_POSITIONAL), None
    )
    named = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    return _CallCodec(
        positional=tuple((p.name, codecs[p.name]) for p in parameters if p.kind in _POSITIONAL),
        by_name={
            p.name: codec
            for p in parameters
            if p.kind in named and (codec := codecs[p.name]) is not None
        },
        rest=rest,
    )


@lru_cache(maxsize=1024)
def _result_codec(func: Callable[..., Any]) -> Codec | None:
    hints = _hints(func)
    return codec_for(hints["return"]) if "return" in hints else None


def has_typed_result(func: Callable[..., Any]) -> bool:
    """Whether ``func``'s return annotation names a typed value."""
    return _result_codec(func) is not None


def dump_call(
    task_path: str,
    func: Callable[..., Any],
    takes_context: bool,
    args: Sequence[Any],
    kwargs: Mapping[str, Any],
) -> tuple[Sequence[Any], Mapping[str, Any]]:
    """Return the call with its typed arguments as plain JSON.

    Raises :class:`PayloadShapeError` (a ``TypeError``) naming the
    parameter and the field that do not fit, e.g. ``order.placed_at is str
    '2024', expected datetime``.
    """
    codec = _call_codec(func, takes_context)
    if codec is None:
        return args, kwargs
    try:
        return codec.dump(args, kwargs)
    except PayloadShapeError as exc:
        raise PayloadShapeError(
            f"Arguments of {task_path} do not fit its annotations: {exc}."
        ) from None


def has_typed_arguments(func: Callable[..., Any], takes_context: bool) -> bool:
    """Whether :func:`dump_call` changes any call of ``func`` (a parameter has a codec)."""
    return _call_codec(func, takes_context) is not None


def load_call(
    func: Callable[..., Any], takes_context: bool, args: Sequence[Any], kwargs: Mapping[str, Any]
) -> tuple[Sequence[Any], Mapping[str, Any]]:
    """Return the stored call with its typed arguments decoded (see :func:`dump_call`)."""
    codec = _call_codec(func, takes_context)
    if codec is None:
        return args, kwargs
    return codec.load(args, kwargs)


def unreadable_arguments(
    func: Callable[..., Any], takes_context: bool, args: Sequence[Any], kwargs: Mapping[str, Any]
) -> tuple[dict[int, str], dict[str, str]]:
    """Why each JSON argument cannot be read as its parameter's type, by position and by name.

    For a call given as JSON (the API's enqueue): e.g. ``{0: "send_invoice()
    argument 'invoice'['due_on'] is str 'soon', which cannot be read as
    date (...)"}``. Empty when every typed argument can be read.
    """
    codec = _call_codec(func, takes_context)
    if codec is None:
        return {}, {}
    by_position, by_name = codec.unfit(args, kwargs)
    title = func.__qualname__

    def message(name: str, problem: UnfitValue) -> str:
        return f"{title}() argument {name!r}{problem.where} {problem.problem}"

    return (
        {index: message(name, problem) for index, (name, problem) in by_position.items()},
        {name: message(name, problem) for name, problem in by_name.items()},
    )


def upgrade_call(
    definition: Any, stored_version: int, args: list[Any], kwargs: dict[str, Any]
) -> tuple[list[Any], dict[str, Any]]:
    """Bring a payload stored by version ``stored_version`` of the task to its current version.

    Raises :class:`PayloadVersionError` for a payload newer than this
    code, or an old one the task has no ``upgrade`` for.
    """
    current = getattr(definition, "version", 1)
    if stored_version == current:
        return args, kwargs
    if stored_version > current:
        raise PayloadVersionError(
            f"{definition.module_path} was enqueued as version {stored_version}, but this "
            f"worker has version {current} of it: deploy the new code to every worker."
        )
    upgrade: Upgrade | None = getattr(definition, "upgrade", None)
    if upgrade is None:
        raise PayloadVersionError(
            f"{definition.module_path} was enqueued as version {stored_version} and is now "
            f"version {current}, but it has no upgrade= to bring the old arguments up to date."
        )
    upgraded_args, upgraded_kwargs = upgrade(list(args), dict(kwargs), stored_version)
    return list(upgraded_args), dict(upgraded_kwargs)


def dump_result(func: Callable[..., Any], value: Any) -> Any:
    """Return a typed result as plain JSON; raise :class:`PayloadShapeError` if it does not fit."""
    codec = _result_codec(func)
    return value if codec is None else codec.dump(value, "the result")


def load_result(func: Callable[..., Any], stored: Any) -> Any:
    """Return a stored result as its annotated type (``None`` stays ``None``)."""
    codec = _result_codec(func)
    if codec is None or stored is None:
        return stored
    return codec.load(stored)
