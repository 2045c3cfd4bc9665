"""Arguments an operator typed: checked against the task's signature and annotations.

An enqueue from code checks only that the arguments bind
(``invocation.bind_arguments``): the type checker has seen the call. An
operator editing a dead letter's arguments as JSON has no type checker,
so a retry with edited arguments also checks each value against its
parameter's annotation (``typecheck.find_mismatch``, as results are),
before anything is written.
"""

from __future__ import annotations

import inspect
import logging
import typing
from collections.abc import Mapping, Sequence
from typing import Any

from django.tasks import Task

from django_taskflow import invocation, typecheck

logger = logging.getLogger(__name__)


def check(definition: Task[Any, Any], args: Sequence[Any], kwargs: Mapping[str, Any]) -> None:
    """Raise ``TypeError`` if the arguments do not fit ``definition``'s function.

    The message reads as Python's, e.g. ``add() missing a required argument:
    'b'`` or ``add() argument 'a' is str 'x', expected int``. Parameters
    without an annotation, and ``*args`` / ``**kwargs``, take any value.
    """
    for _name, message in mismatches(definition, args, kwargs):
        raise TypeError(message)


def mismatches(
    definition: Task[Any, Any], args: Sequence[Any], kwargs: Mapping[str, Any]
) -> list[tuple[str, str]]:
    """Every argument whose value does not fit its annotation: (parameter name, message).

    Raises ``TypeError`` first if the arguments do not bind at all (a
    missing or unexpected argument), as :func:`check` does.
    """
    invocation.bind_arguments(definition, args, kwargs)
    func = definition.func
    try:
        signature = inspect.signature(func)
        hints = typing.get_type_hints(func)
    except (TypeError, ValueError, NameError, AttributeError, SyntaxError) as exc:
        logger.debug("Cannot read the annotations of %r: %s", func, exc)
        return []  # nothing more to check than the binding
    leading = (None,) if getattr(definition, "takes_context", False) else ()
    bound = signature.bind(*leading, *args, **kwargs)
    found = []
    for name, value in bound.arguments.items():
        parameter = signature.parameters[name]
        if parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD):
            continue
        if leading and name == next(iter(signature.parameters)):
            continue  # the context, passed by the worker
        if name not in hints:
            continue
        mismatch = typecheck.find_mismatch(value, hints[name], path=f"argument {name!r}")
        if mismatch is not None:
            found.append((name, f"{func.__qualname__}() {mismatch}"))
    return found
