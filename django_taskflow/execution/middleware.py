"""Middleware: code wrapped around every execution of a task.

A middleware is any callable ``middleware(task, context, call_next)``:
``task`` is the definition, ``context`` the :class:`TaskContext`, and
``call_next()`` runs the rest of the chain (then the task) and returns its
result. A middleware can log, time, enrich the context, return without
calling ``call_next`` (short-circuit) or catch and transform errors.

The chain is the backend's ``OPTIONS["MIDDLEWARE"]`` (dotted paths, in
order, outermost first) followed by what ``use()`` added at run time.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial
from typing import Any, Protocol

from django.tasks import Task
from django.utils.module_loading import import_string

from django_taskflow.exceptions import ConfigurationError
from django_taskflow.execution.context import TaskContext


class Middleware(Protocol):
    """What a middleware looks like."""

    def __call__(
        self, task: Task[Any, Any], context: TaskContext, call_next: Callable[[], Any]
    ) -> Any: ...


_added: list[Middleware] = []


def use(*middleware: Middleware) -> None:
    """Add middleware to every execution in this process, after the configured ones."""
    for item in middleware:
        if isinstance(item, type) or not callable(item):
            raise ConfigurationError(
                f"use() takes middleware instances or functions, got {item!r}"
                + (f"; did you mean {item.__name__}()?" if isinstance(item, type) else ".")
            )
        _added.append(item)


def clear() -> None:
    """Remove everything ``use()`` added (for tests)."""
    _added.clear()


def load(paths: Sequence[str], *, setting: str) -> list[Middleware]:
    """Import the configured middleware; classes are instantiated with no arguments."""
    loaded = []
    for path in paths:
        try:
            found = import_string(path)
            item = found() if isinstance(found, type) else found
        except Exception as exc:  # a broken module or constructor: name the setting
            raise ConfigurationError(
                f"{setting} names {path!r}, which cannot be loaded: {type(exc).__name__}: {exc}"
            ) from exc
        if not callable(item):
            raise ConfigurationError(f"{setting} names {path!r}, which is not callable.")
        loaded.append(item)
    return loaded


def run(
    configured: Sequence[Middleware],
    task: Task[Any, Any],
    context: TaskContext,
    call: Callable[[], Any],
) -> Any:
    """Run ``call`` inside every middleware, the first one outermost."""
    chain = [*configured, *_added]
    if not chain:
        return call()

    def step(index: int) -> Any:
        if index == len(chain):
            return call()
        return chain[index](task, context, partial(step, index + 1))

    return step(0)
