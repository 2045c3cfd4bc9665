"""What users write: ``chain``, ``group``, ``chord`` and their ``.enqueue()``.

A canvas is pure: it only describes a flow. ``enqueue()`` checks every
step's arguments against its function (so a mismatch fails here, not in a
worker) and hands the graph to ``flows.starting``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from asgiref.sync import sync_to_async

from django_taskflow.exceptions import InvalidTaskOptions
from django_taskflow.flows.steps import Step, option_json
from django_taskflow.policies import RetryPolicy
from django_taskflow.timeouts import Timeout

if TYPE_CHECKING:
    from django_taskflow.flows.handle import FlowResult


@dataclass(frozen=True, slots=True)
class Group:
    """Steps that run in parallel; the next step gets their results as a list, in order."""

    steps: tuple[Step, ...]

    def then(self, part: Part) -> Chain:
        """A chain of this group, then ``part``."""
        return chain(self, part)

    def enqueue(self, **options: Any) -> FlowResult:
        """Enqueue this group as a flow of its own; see :meth:`Chain.enqueue`."""
        return chain(self).enqueue(**options)

    async def aenqueue(self, **options: Any) -> FlowResult:
        """Async twin of :meth:`enqueue`."""
        return await chain(self).aenqueue(**options)


type Part = Step | Group | Chain


@dataclass(frozen=True, slots=True)
class Chain:
    """Stages that run one after the other, each getting the previous one's result."""

    stages: tuple[Step | Group, ...]
    on_error: Step | None = None

    def then(self, part: Part) -> Chain:
        """This chain, then ``part`` (a step, a group or a chain)."""
        return chain(self, part, on_error=self.on_error)

    def then_all(self, steps: Iterable[Step]) -> Chain:
        """This chain, then ``steps`` in parallel (a group)."""
        return self.then(group(*steps))

    def enqueue(
        self,
        *,
        tags: Sequence[str] = (),
        queue: str | None = None,
        priority: int | None = None,
        deadline: timedelta | datetime | None = None,
        max_attempts: int | None = None,
        retry: RetryPolicy | None = None,
        timeout: Timeout | None = None,
    ) -> FlowResult:
        """Store this flow and enqueue its first steps; return its :class:`FlowResult`.

        ``queue``, ``priority``, ``max_attempts``, ``retry`` and ``timeout``
        apply to every step whose definition was not given its own with
        ``using()``; ``tags`` are added to every step's. ``deadline`` (a
        ``timedelta`` from now, or an aware datetime) fails the flow when
        passed. Raises :class:`InvalidTaskOptions` (a ``ValueError``) when a
        step's arguments cannot fit its function, and nothing is enqueued.
        """
        from django_taskflow.flows import starting

        options = flow_options(
            queue=queue, priority=priority, max_attempts=max_attempts, retry=retry, timeout=timeout
        )
        stages: list[list[Step]] = [
            [stage] if isinstance(stage, Step) else list(stage.steps) for stage in self.stages
        ]
        return starting.start_chain(
            stages, on_error=self.on_error, options=options, tags=tags, deadline=deadline
        )

    async def aenqueue(self, **options: Any) -> FlowResult:
        """Async twin of :meth:`enqueue`."""
        return await sync_to_async(self.enqueue, thread_sensitive=True)(**options)


def flow_options(**values: Any) -> dict[str, Any]:
    """The options a flow gives its steps, as stored (JSON)."""
    names = {"queue": "queue_name"}
    return {
        names.get(name, name): option_json(name, value)
        for name, value in values.items()
        if value is not None
    }


def _step(value: Any, where: str) -> Step:
    if not isinstance(value, Step):
        raise InvalidTaskOptions(f"{where} must be a step, made with task.s(...), got {value!r}.")
    return value


def chain(*parts: Part, on_error: Step | None = None) -> Chain:
    """Steps and groups that run in order, each given the result before it.

    A step gets the previous result as its first argument, or as
    ``previous=`` when its function has a parameter of that name; after a
    group, that result is the list of the group's results, in order.
    ``on_error`` runs once if the flow fails.
    """
    stages: list[Step | Group] = []
    for part in parts:
        if isinstance(part, Chain):
            stages.extend(part.stages)
        elif isinstance(part, Group | Step):
            stages.append(part)
        else:
            _step(part, "Each part of a chain")
    if not stages:
        raise InvalidTaskOptions("A chain needs at least one step.")
    if on_error is not None:
        _step(on_error, "on_error")
    return Chain(tuple(stages), on_error)


def group(*steps: Step) -> Group:
    """Steps that run in parallel, each given the same previous result (if any)."""
    if len(steps) == 1 and not isinstance(steps[0], Step) and isinstance(steps[0], Iterable):
        steps = tuple(steps[0])
    if not steps:
        raise InvalidTaskOptions("A group needs at least one step.")
    return Group(tuple(_step(step, "Each member of a group") for step in steps))


def chord(members: Iterable[Step], callback: Step, *, on_error: Step | None = None) -> Chain:
    """A group whose ``callback`` gets the list of its results, once all have succeeded."""
    return chain(group(*members), _step(callback, "callback"), on_error=on_error)
