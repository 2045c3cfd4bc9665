"""Enqueue a task named by someone outside the code: the REST API's enqueue.

Only tasks marked ``@task(api=True)`` can be found here, and only among
the definitions already imported (autodiscovery imports every app's
``tasks.py``): a name from a request never triggers an import. Arguments
arrive as JSON with no type checker behind them, so each one is checked
against its parameter's annotation, as an operator's edited arguments are
(``edited_arguments``), and the whole call against the payload limits,
before anything is written.
"""

from __future__ import annotations

import inspect
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

from django.db import transaction

from django_taskflow import edited_arguments, models, registry
from django_taskflow.definition import TaskflowTask
from django_taskflow.encoding import arguments as stored_arguments
from django_taskflow.encoding import calls as typed_calls
from django_taskflow.encoding.keys import EncryptionKey
from django_taskflow.exceptions import (
    MissingEncryptionKey,
    PayloadTooLarge,
    TaskNotExposed,
    UnknownEncoding,
    UnserializablePayload,
)
from django_taskflow.results import TaskflowResult


def exposed_tasks(backend: str) -> dict[str, TaskflowTask]:
    """The definitions of ``backend`` that may be enqueued by name, by path."""
    return {
        definition.module_path: definition
        for definition in registry.definitions()
        if isinstance(definition, TaskflowTask) and definition.api and definition.backend == backend
    }


def find_exposed(name: str, backend: str) -> TaskflowTask:
    """The ``@task(api=True)`` definition ``name`` stands for (a path or a function name).

    A function name must belong to exactly one exposed task. Raises
    :class:`TaskNotExposed` otherwise; the message never names a task
    that is not exposed.
    """
    exposed = exposed_tasks(backend)
    if name in exposed:
        return exposed[name]
    matches = [path for path in exposed if path.rpartition(".")[2] == name]
    if len(matches) == 1:
        return exposed[matches[0]]
    if matches:
        raise TaskNotExposed(
            f"{name!r} is the function name of several tasks ({', '.join(sorted(matches))}): "
            "give the full path of the one you mean."
        )
    raise TaskNotExposed(
        f"No task named {name!r} can be enqueued by name; only tasks marked @task(api=True) can."
    )


@dataclass(slots=True)
class ArgumentProblems:
    """What is wrong with a call, by where it was given."""

    args: dict[int, str] = field(default_factory=dict)  # position -> message
    kwargs: dict[str, str] = field(default_factory=dict)  # name -> message
    call: list[str] = field(default_factory=list)  # the call as a whole

    def __bool__(self) -> bool:
        return bool(self.args or self.kwargs or self.call)


def check_call(
    definition: TaskflowTask,
    args: Sequence[Any],
    kwargs: Mapping[str, Any],
    max_bytes: int,
    keys: tuple[EncryptionKey, ...] = (),
) -> ArgumentProblems:
    """Everything that would stop this call being enqueued, or nothing.

    The arguments must bind to the function's signature, each must fit its
    parameter's annotation, and the call must be storable JSON of at most
    ``max_bytes`` (``OPTIONS["MAX_PAYLOAD_BYTES"]``) as stored: after the
    task's encoder and encryption (with ``keys``, the backend's).
    """
    problems = ArgumentProblems()
    try:
        mismatches = edited_arguments.mismatches(definition, args, kwargs)
    except TypeError as exc:
        problems.call.append(str(exc))
        return problems
    positions = _positions(definition)
    for name, message in mismatches:
        if name in kwargs:
            problems.kwargs[name] = message
        else:
            problems.args[positions.index(name)] = message
    try:
        # As the enqueue stores it: compressed and encrypted, if the task is.
        writer = stored_arguments.writer_for(definition, max_bytes, keys)
        writer.encode(args, kwargs, uuid.uuid4())  # the size does not depend on the id
    except (UnserializablePayload, PayloadTooLarge, MissingEncryptionKey, UnknownEncoding) as exc:
        problems.call.append(str(exc))
    # A value of the right JSON shape may still not be readable as its type
    # (an ISO date that is not one): said beside its argument too.
    by_position, by_name = typed_calls.unreadable_arguments(
        definition.func, definition.takes_context, args, kwargs
    )
    for index, message in by_position.items():
        problems.args.setdefault(index, message)
    for name, message in by_name.items():
        problems.kwargs.setdefault(name, message)
    if not problems:
        try:
            _typed(definition, args, kwargs)
        except (TypeError, ValueError, ArithmeticError) as exc:
            problems.call.append(f"The arguments do not fit the task's typed parameters: {exc}")
    return problems


def _typed(
    definition: TaskflowTask, args: Sequence[Any], kwargs: Mapping[str, Any]
) -> tuple[Sequence[Any], Mapping[str, Any]]:
    """The JSON call with its typed parameters' values (datetimes, dataclasses...) built.

    JSON gives them in their stored form (ISO text, dicts); the enqueue
    then checks and stores them as it does for a call from code.
    """
    return typed_calls.load_call(definition.func, definition.takes_context, args, kwargs)


def _positions(definition: TaskflowTask) -> list[str]:
    """The parameters positional arguments fill, in order (the context left out)."""
    parameters = list(inspect.signature(definition.func).parameters.values())
    if definition.takes_context:
        parameters = parameters[1:]
    return [
        parameter.name
        for parameter in parameters
        if parameter.kind in (parameter.POSITIONAL_ONLY, parameter.POSITIONAL_OR_KEYWORD)
    ]


def enqueue(
    definition: TaskflowTask,
    args: Sequence[Any],
    kwargs: Mapping[str, Any],
    *,
    user: Any,
    database: str,
) -> TaskflowResult:
    """Enqueue the call, recording ``user`` (a saved user, or None) as ``enqueued_by``.

    The row and its ``enqueued_by`` are written in one transaction, so a
    worker or a live update never sees the task without its owner. A
    deduplicated call (``dedup``, ``unique``) returns the existing task and
    leaves its owner as it was.
    """
    with transaction.atomic(using=database):
        # Our backend's enqueue returns our result, deduplicated or not.
        typed_args, typed_kwargs = _typed(definition, args, kwargs)
        result = cast(TaskflowResult, definition.enqueue(*typed_args, **typed_kwargs))
        if user is not None and not result.deduplicated:
            models.Task.objects.using(database).filter(pk=result.id).update(enqueued_by=user.pk)
    return result
