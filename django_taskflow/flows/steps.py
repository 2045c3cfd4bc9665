"""A step of a flow: a task definition with bound arguments (``task.s(...)``).

A step is stored in the flow's graph as JSON (its task path, its bound
arguments and the options its definition changed), so any worker can
create its task row when the step is due.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from django_taskflow import invocation, payloads, registry
from django_taskflow.encoding.encoders import seals
from django_taskflow.exceptions import InvalidTaskOptions, StepArgumentsMismatch
from django_taskflow.policies import RetryPolicy
from django_taskflow.timeouts import Timeout

if TYPE_CHECKING:
    from django_taskflow.definition import TaskflowTask

# Options a step or its flow may set for the step's task; the rest are the
# definition's own.
STEP_OPTIONS = ("queue_name", "priority", "tags", "max_attempts", "retry", "timeout")


class Passing(StrEnum):
    """How a step receives the result before it."""

    FIRST = "first"  # as its first positional argument
    KEYWORD = "keyword"  # as previous=, because its signature names it
    NONE = "none"  # not at all (a flow's first step)


@lru_cache(maxsize=1024)
def names_previous(func: Any) -> bool:
    """Whether ``func`` has a parameter named ``previous``."""
    try:
        return "previous" in inspect.signature(func).parameters
    except (TypeError, ValueError):
        return False


@dataclass(frozen=True, slots=True)
class Step:
    """A task with bound arguments, to run as a step of a flow.

    Made by ``definition.s(*args, **kwargs)``. Options set with
    ``definition.using(...)`` before ``.s()`` are the step's own and win
    over the flow's.
    """

    definition: TaskflowTask
    args: tuple[Any, ...] = ()
    kwargs: Mapping[str, Any] = field(default_factory=dict)

    @property
    def task_path(self) -> str:
        return self.definition.module_path

    def passing(self, receives: bool) -> Passing:
        """How this step gets the previous result, if it ``receives`` one."""
        if not receives:
            return Passing.NONE
        return Passing.KEYWORD if names_previous(self.definition.func) else Passing.FIRST

    def check(self, receives: bool, max_bytes: int) -> None:
        """Raise at enqueue if the arguments cannot fit the function or are not JSON.

        ``receives``: the step will get the previous step's result too.
        Raises :class:`InvalidTaskOptions` for an encrypted task (see
        :func:`refuse_encrypted`).
        """
        refuse_encrypted(self.definition)
        if getattr(self.definition, "dedup", None) is not None or getattr(
            self.definition, "unique", False
        ):
            # A duplicate's existing task would not be the flow's step.
            raise InvalidTaskOptions(
                f"Step {self.task_path} deduplicates (dedup or unique); a flow's steps "
                "cannot: use using(dedup=False, unique=False) for the step."
            )
        args, kwargs = call_arguments(self.args, self.kwargs, self.passing(receives), previous=None)
        try:
            invocation.bind_arguments(self.definition, args, kwargs)
        except TypeError as exc:
            given = "with the previous step's result " if receives else ""
            raise StepArgumentsMismatch(
                f"Step {self.task_path} cannot be called {given}with the arguments "
                f"bound by .s(): {exc}"
            ) from None
        invocation.check_importable(self.definition)
        payloads.encode_arguments(self.task_path, list(self.args), dict(self.kwargs), max_bytes)

    def to_json(self, passing: Passing) -> dict[str, Any]:
        return {
            "task": self.task_path,
            "args": list(self.args),
            "kwargs": dict(self.kwargs),
            "options": own_options(self.definition),
            "passing": passing.value,
        }


def refuse_encrypted(definition: TaskflowTask) -> None:
    """Raise :class:`InvalidTaskOptions` if ``definition`` is encrypted.

    A flow's row holds its steps' arguments, and the results passed between
    them, as plain JSON: an encrypted task's would be stored there in the
    clear, beside its sealed row.
    """
    if seals(definition):
        raise InvalidTaskOptions(
            f"Step {definition.module_path} is encrypted: a flow cannot hold it (the flow's "
            "row stores its steps' arguments and results in plain JSON). Enqueue it on its own."
        )


def call_arguments(
    args: Sequence[Any], kwargs: Mapping[str, Any], passing: Passing | str, previous: Any
) -> tuple[list[Any], dict[str, Any]]:
    """The arguments a step's task is called with, given the previous result."""
    if passing == Passing.FIRST:
        return [previous, *args], dict(kwargs)
    if passing == Passing.KEYWORD:
        return list(args), {**kwargs, "previous": previous}
    return list(args), dict(kwargs)


def option_json(name: str, value: Any) -> Any:
    if isinstance(value, RetryPolicy | Timeout):
        return value.to_json()
    if name == "tags":
        return list(value)
    return value


def option_value(name: str, value: Any) -> Any:
    if name == "retry":
        return RetryPolicy.from_json(value)
    if name == "timeout":
        return Timeout.from_json(value)
    return value


def own_options(definition: TaskflowTask) -> dict[str, Any]:
    """The options ``definition`` sets apart from the registered definition (``using()``)."""
    try:
        registered = registry.resolve(definition.module_path)
    except Exception:
        return {}
    return {
        name: option_json(name, getattr(definition, name))
        for name in STEP_OPTIONS
        if getattr(definition, name, None) != getattr(registered, name, None)
    }


def definition_for(step_json: Mapping[str, Any], flow_options: Mapping[str, Any]) -> Any:
    """The definition a stored step runs with: the flow's options, then the step's own."""
    definition = registry.resolve(step_json["task"])
    options = dict(flow_options)
    if "tags" in options:
        options["tags"] = [*getattr(definition, "tags", ()), *options["tags"]]
    options.update(step_json.get("options", {}))
    changes = {
        name: option_value(name, value) for name, value in options.items() if name in STEP_OPTIONS
    }
    return definition.using(**changes) if changes else definition
