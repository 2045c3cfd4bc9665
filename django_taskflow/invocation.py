"""Whether the worker will be able to call a definition, checked at enqueue.

Two mistakes otherwise show only later, in the worker: arguments that do
not fit the function's signature, and a function the worker cannot import
by its path (one defined in ``__main__`` or in a shell). Both checks are
cached per function, so that an enqueue pays a dictionary lookup and, for
the arguments, a few comparisons.
"""

from __future__ import annotations

import inspect
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from django.tasks import Task
from django.utils.module_loading import import_string

from django_taskflow.exceptions import UnimportableTask

_POSITIONAL = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
_BY_KEYWORD = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
_MODULES_THE_WORKER_NEVER_IMPORTS = ("__main__", "__mp_main__")
# `manage.py shell -c` runs its code with this module's name.
_SHELL_MODULE = "django.core.management.commands.shell"


@dataclass(frozen=True, slots=True)
class _CallShape:
    """What a function's signature accepts, for a check cheaper than ``Signature.bind``."""

    signature: inspect.Signature
    passes_context: bool
    positional: tuple[str, ...]  # parameters positional arguments fill, in order
    keywords: frozenset[str]  # parameters keyword arguments may name
    required: tuple[str, ...]  # parameters without a default
    takes_any_positional: bool  # it has *args

    def surely_binds(self, args: Sequence[Any], kwargs: Mapping[str, Any]) -> bool:
        """True when the call certainly binds; False when ``Signature.bind`` must decide."""
        count = len(args)
        if count > len(self.positional) and not self.takes_any_positional:
            return False
        filled = self.positional[:count]
        for name in kwargs:
            if name not in self.keywords or name in filled:
                return False
        required = self.required
        return not required or all(name in kwargs or name in filled for name in required)

    def bind(self, args: Sequence[Any], kwargs: Mapping[str, Any]) -> None:
        if self.passes_context:
            bound = self.signature.bind(None, *args, **kwargs)
        else:
            bound = self.signature.bind(*args, **kwargs)
        # Signature.bind puts a positional-only parameter given by keyword
        # into **kwargs and then forgets that the parameter itself is missing
        # (``f(a, /, **kw)`` binds ``a=1``); a direct call refuses it.
        for name in self.required:
            if name not in bound.arguments:
                raise TypeError(f"missing a required positional-only argument: {name!r}")


@lru_cache(maxsize=1024)
def _call_shape(func: Any, takes_context: bool) -> _CallShape | None:
    try:
        signature = inspect.signature(func)
    except (TypeError, ValueError):  # no signature to read (a builtin, say): nothing to check
        return None
    parameters = list(signature.parameters.values())
    if takes_context:
        parameters = parameters[1:]  # the worker passes the context itself
    return _CallShape(
        signature=signature,
        passes_context=takes_context,
        positional=tuple(p.name for p in parameters if p.kind in _POSITIONAL),
        keywords=frozenset(p.name for p in parameters if p.kind in _BY_KEYWORD),
        required=tuple(
            p.name
            for p in parameters
            if p.default is inspect.Parameter.empty
            and p.kind not in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)
        ),
        takes_any_positional=any(p.kind is inspect.Parameter.VAR_POSITIONAL for p in parameters),
    )


def bind_arguments(
    definition: Task[Any, Any], args: Sequence[Any], kwargs: Mapping[str, Any]
) -> None:
    """Raise the ``TypeError`` a direct call would if the arguments do not fit.

    The message starts with the function's name, as Python's does, e.g.
    ``add() missing a required argument: 'b'``. With ``takes_context`` the
    context is not counted: the worker passes it.
    """
    argument_check(definition)(args, kwargs)


def argument_check(
    definition: Task[Any, Any],
) -> Callable[[Sequence[Any], Mapping[str, Any]], None]:
    """:func:`bind_arguments` for ``definition``, its signature read once, for many calls."""
    shape = _call_shape(definition.func, definition.takes_context)
    if shape is None:
        return _fits_anything

    def check(args: Sequence[Any], kwargs: Mapping[str, Any]) -> None:
        if shape.surely_binds(args, kwargs):
            return
        try:
            shape.bind(args, kwargs)
        except TypeError as exc:
            raise TypeError(f"{definition.func.__qualname__}() {exc}") from None

    return check


def _fits_anything(args: Sequence[Any], kwargs: Mapping[str, Any]) -> None:
    """No signature to read (a builtin, say): nothing to check."""


@lru_cache(maxsize=1024)
def _import_problem(func: Any, task_path: str) -> str | None:
    module = getattr(func, "__module__", None)
    if module in _MODULES_THE_WORKER_NEVER_IMPORTS:
        return (
            "it is defined in __main__ (a script run directly, or an interactive "
            "session), which the worker does not import"
        )
    if module is None or module == _SHELL_MODULE or module not in sys.modules:
        return (
            "it was not defined in a module Python can import (it seems to come "
            "from `manage.py shell` or another interactive session)"
        )
    qualname = getattr(func, "__qualname__", "")
    if "<lambda>" in qualname:
        return "it is a lambda, which has no name to import it by"
    if "." in qualname:
        owner = qualname.rpartition(".")[0]
        return (
            f"it is defined inside {owner}, and the worker imports only names "
            "at the top level of a module"
        )
    try:
        found = import_string(task_path)
    except ImportError as exc:
        return f"importing {task_path!r} fails ({exc})"
    if found is func or (isinstance(found, Task) and found.func is func):
        return None
    return f"{task_path!r} imports as {found!r}, not as this task"


def check_importable(definition: Task[Any, Any]) -> None:
    """Raise :class:`UnimportableTask` unless the worker can import ``definition`` by its path.

    The path (``module.function``) must import back to this very function
    or to a definition of it.
    """
    problem = _import_problem(definition.func, definition.module_path)
    if problem is not None:
        raise UnimportableTask(
            f"The worker cannot import task {definition.module_path!r}: {problem}. Define "
            "it at the top level of a module the worker imports, such as an app's "
            "tasks.py, and enqueue it from there."
        )
