"""``@task`` and :class:`TaskflowTask`, Django's task definition plus our options."""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal, overload

from asgiref.sync import sync_to_async
from django.tasks import DEFAULT_TASK_BACKEND_ALIAS, DEFAULT_TASK_QUEUE_NAME, Task
from django.tasks.base import DEFAULT_TASK_PRIORITY

from django_taskflow.cron import CronExpression
from django_taskflow.dedup import Dedup
from django_taskflow.definition_checks import (
    NAME_MAX_LENGTH,
    as_capabilities,
    is_capability,
    refuse,
    validate_options,
)
from django_taskflow.exceptions import InvalidSchedule, InvalidTaskOptions
from django_taskflow.limits import Concurrency, RateLimit
from django_taskflow.policies import RetryPolicy
from django_taskflow.timeouts import Timeout

# NAME_MAX_LENGTH and is_capability are imported from here too (operations, taskworker).
__all__ = ["NAME_MAX_LENGTH", "TaskflowTask", "is_capability", "task"]

if TYPE_CHECKING:
    from django_taskflow.flows.steps import Step
    from django_taskflow.results import TaskflowResult

type Call = Sequence[Any] | dict[str, Any]
type ErrorClasses = Sequence[type[BaseException]]
type OnLostChoice = Literal["requeue", "fail"]
# What schedule= takes: a cron builder (cron.daily_at(9, 30)), an expression, an interval.
type ScheduleChoice = CronExpression | str | timedelta

# Options the worker reads from the definition itself (they are code, not
# data), so they cannot change for one enqueue with using().
DEFINITION_ONLY = (
    "retry_if",
    "retry_on",
    "dont_retry_on",
    "validator",
    "version",
    "upgrade",
    "encrypted",
)


@dataclass(frozen=True, slots=True, kw_only=True)
class TaskflowTask(Task):  # type: ignore[type-arg]  # generic only in the stubs
    """A task definition: the function and how to run it.

    Adds to :class:`django.tasks.Task` (see docs/reference/task-options.md):

    - ``max_attempts``: runs allowed before the task fails for good
      (``None``: the retry policy's, else ``OPTIONS["MAX_ATTEMPTS"]``, 1);
    - ``retry``: a :class:`RetryPolicy` for the delay before each retry
      (``None``: ``OPTIONS["RETRY_POLICY"]``, else capped exponential backoff
      with full jitter);
    - ``retry_if(error) -> bool``, ``retry_on``, ``dont_retry_on``: which
      errors are worth another attempt;
    - ``validator(result) -> None | error``: rejects a returned value;
    - ``timeout``: a :class:`Timeout` (soft and hard limits);
    - ``on_lost``: ``"requeue"`` (run again after a worker crash mid-run) or
      ``"fail"`` (fail with ``WorkerLost``: for work that must not run twice);
    - ``tags`` and ``key``: labels and the caller's own identifier;
    - ``dedup``: a :class:`Dedup`, which enqueues of it are duplicates for
      how long (a duplicate returns the existing task's result);
    - ``unique``: at most one queued or running task per identical call.
    - ``requires``: capabilities a worker must offer to run it
      (``taskworker --capabilities``); it waits until one does.
    - ``schedule``: run it periodically (a cron builder, an expression or a
      ``timedelta``); declared only, synced to the Schedule table when a
      worker starts (docs/howto/schedules.md).
    - ``concurrency``: a :class:`Concurrency` cap on the tasks running at once;
    - ``rate_limit``: a :class:`RateLimit` on the attempts started per window.
    - ``api``: whether the REST API may enqueue it by name (docs/howto/api.md).
    - ``version`` and ``upgrade(args, kwargs, old_version) -> (args, kwargs)``:
      the version of its arguments' shape, and how the worker brings the
      arguments of tasks enqueued by an older version up to date
      (docs/howto/typed-payloads.md).
    - ``encoder``: how its payloads are stored (``"json"``, ``"compressed"``,
      ``"encrypted"`` or one registered with ``register_encoder``);
    - ``encrypted``: AES-256-GCM over the encoder's output (docs/howto/encryption.md).
    """

    max_attempts: int | None = None
    retry: RetryPolicy | None = None
    retry_if: Callable[[Any], bool] | None = None
    retry_on: ErrorClasses = ()
    dont_retry_on: ErrorClasses = ()
    validator: Callable[[Any], Any] | None = None
    timeout: Timeout | None = None
    on_lost: OnLostChoice = "requeue"
    tags: Sequence[str] = ()
    key: str | None = None
    dedup: Dedup | None = None
    unique: bool = False
    # A frozenset from @task and using(); a set, list or tuple through
    # Django's own decorator.
    requires: Collection[str] = frozenset()
    schedule: ScheduleChoice | None = None
    concurrency: Concurrency | None = None
    rate_limit: RateLimit | None = None
    # Only a task that says so can be enqueued by name from outside (the API):
    # the others may trust their callers' arguments.
    api: bool = False
    version: int = 1
    upgrade: Callable[..., tuple[Any, Any]] | None = None
    encoder: str = "json"
    encrypted: bool = False

    def __post_init__(self) -> None:
        validate_options(self)
        Task.__post_init__(self)
        if self.schedule is not None:
            from django_taskflow import schedules

            try:
                schedules.declare(schedules.build_declaration(self, cron_or_every=self.schedule))
            except InvalidSchedule as exc:
                refuse(self, "schedule", f"a schedule this task can run on ({exc})", self.schedule)

    def using(
        self,
        *,
        priority: int | None = None,
        queue_name: str | None = None,
        run_after: datetime | None = None,
        backend: str | None = None,
        max_attempts: int | None = None,
        retry: RetryPolicy | None = None,
        timeout: Timeout | None = None,
        on_lost: OnLostChoice | None = None,
        tags: Sequence[str] | None = None,
        key: str | None = None,
        dedup: Dedup | Literal[False] | None = None,
        unique: bool | None = None,
        requires: Collection[str] | None = None,
        concurrency: Concurrency | None = None,
        rate_limit: RateLimit | None = None,
        encoder: str | None = None,
        **others: Any,
    ) -> TaskflowTask:
        """Return a copy with the given options changed (for one enqueue, say).

        ``dedup=False`` turns deduplication off for the copy.
        """
        for name in others:
            if name in DEFINITION_ONLY:
                raise InvalidTaskOptions(
                    f"{name} can only be given to @task: the worker takes it from the "
                    "task's definition, so it cannot change for one enqueue."
                )
            raise TypeError(f"using() got an unexpected keyword argument {name!r}")
        changes: dict[str, Any] = {
            name: value
            for name, value in {
                "priority": priority,
                "queue_name": queue_name,
                "run_after": run_after,
                "backend": backend,
                "max_attempts": max_attempts,
                "retry": retry,
                "timeout": timeout,
                "on_lost": on_lost,
                "tags": tags,
                "key": key,
                "unique": unique,
                "requires": None if requires is None else as_capabilities(requires),
                "concurrency": concurrency,
                "rate_limit": rate_limit,
                "encoder": encoder,
            }.items()
            if value is not None
        }
        if dedup is not None:
            changes["dedup"] = None if dedup is False else dedup
        return replace(self, **changes)

    def s(self, *args: Any, **kwargs: Any) -> Step:
        """A step of a flow: this task with these arguments bound (``chain``, ``group``).

        The arguments are checked against the function when the flow is
        enqueued, with room for the previous step's result.
        """
        from django_taskflow.flows.steps import Step

        return Step(self, args, kwargs)

    def enqueue_many(self, calls: Iterable[Call]) -> list[TaskflowResult]:
        """Enqueue one task per call in a single round trip.

        Each call is a sequence of positional arguments or a dict of keyword
        arguments. Returns the results in the same order. Needs a
        django_taskflow backend.
        """
        backend = self.get_backend()
        enqueue_many = getattr(backend, "enqueue_many", None)
        if enqueue_many is None:
            raise InvalidTaskOptions(
                f"enqueue_many needs a django_taskflow backend; {self.backend!r} is "
                f"{type(backend).__name__}."
            )
        return enqueue_many(self, calls)  # type: ignore[no-any-return]

    async def aenqueue_many(self, calls: Iterable[Call]) -> list[TaskflowResult]:
        """Async twin of :meth:`enqueue_many`."""
        return await sync_to_async(self.enqueue_many, thread_sensitive=True)(list(calls))


@overload
def task[F: Callable[..., Any]](function: F, /) -> TaskflowTask: ...
@overload
def task(
    *,
    priority: int = ...,
    queue_name: str = ...,
    backend: str = ...,
    takes_context: bool = ...,
    max_attempts: int | None = ...,
    retry: RetryPolicy | None = ...,
    retry_if: Callable[[Any], bool] | None = ...,
    retry_on: ErrorClasses = ...,
    dont_retry_on: ErrorClasses = ...,
    validator: Callable[[Any], Any] | None = ...,
    timeout: Timeout | None = ...,
    on_lost: OnLostChoice = ...,
    tags: Sequence[str] = ...,
    key: str | None = ...,
    dedup: Dedup | None = ...,
    unique: bool = ...,
    requires: Collection[str] = ...,
    schedule: ScheduleChoice | None = ...,
    concurrency: Concurrency | None = ...,
    rate_limit: RateLimit | None = ...,
    api: bool = ...,
    version: int = ...,
    upgrade: Callable[..., tuple[Any, Any]] | None = ...,
    encoder: str = ...,
    encrypted: bool = ...,
) -> Callable[[Callable[..., Any]], TaskflowTask]: ...


def task(
    function: Callable[..., Any] | None = None,
    *,
    priority: int = DEFAULT_TASK_PRIORITY,
    queue_name: str = DEFAULT_TASK_QUEUE_NAME,
    backend: str = DEFAULT_TASK_BACKEND_ALIAS,
    takes_context: bool = False,
    max_attempts: int | None = None,
    retry: RetryPolicy | None = None,
    retry_if: Callable[[Any], bool] | None = None,
    retry_on: ErrorClasses = (),
    dont_retry_on: ErrorClasses = (),
    validator: Callable[[Any], Any] | None = None,
    timeout: Timeout | None = None,
    on_lost: OnLostChoice = "requeue",
    tags: Sequence[str] = (),
    key: str | None = None,
    dedup: Dedup | None = None,
    unique: bool = False,
    requires: Collection[str] = (),
    schedule: ScheduleChoice | None = None,
    concurrency: Concurrency | None = None,
    rate_limit: RateLimit | None = None,
    api: bool = False,
    version: int = 1,
    upgrade: Callable[..., tuple[Any, Any]] | None = None,
    encoder: str = "json",
    encrypted: bool = False,
) -> TaskflowTask | Callable[[Callable[..., Any]], TaskflowTask]:
    """Turn a module-level function (sync or ``async def``) into a task definition.

    Takes Django's ``@task`` arguments plus django_taskflow's options (see
    :class:`TaskflowTask`). Bad options raise :class:`InvalidTaskOptions`
    when the module is imported.
    """

    def wrapper(func: Callable[..., Any]) -> TaskflowTask:
        return TaskflowTask(
            func=func,
            priority=priority,
            queue_name=queue_name,
            backend=backend,
            takes_context=takes_context,
            max_attempts=max_attempts,
            retry=retry,
            retry_if=retry_if,
            retry_on=tuple(retry_on) if isinstance(retry_on, list) else retry_on,
            dont_retry_on=tuple(dont_retry_on)
            if isinstance(dont_retry_on, list)
            else dont_retry_on,
            validator=validator,
            timeout=timeout,
            on_lost=on_lost,
            tags=tags,
            key=key,
            dedup=dedup,
            unique=unique,
            requires=as_capabilities(requires),
            schedule=schedule,
            concurrency=concurrency,
            rate_limit=rate_limit,
            api=api,
            version=version,
            upgrade=upgrade,
            encoder=encoder,
            encrypted=encrypted,
        )

    if function is not None:
        return wrapper(function)
    return wrapper
