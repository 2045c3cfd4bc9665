"""``@task`` and :class:`TaskflowTask`, Django's task definition plus our options."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any, overload

from asgiref.sync import sync_to_async
from django.tasks import DEFAULT_TASK_BACKEND_ALIAS, DEFAULT_TASK_QUEUE_NAME, Task
from django.tasks.base import DEFAULT_TASK_PRIORITY

from django_taskflow.conf import is_finite_number
from django_taskflow.exceptions import InvalidTaskOptions

if TYPE_CHECKING:
    from django_taskflow.results import TaskflowResult

type Call = Sequence[Any] | dict[str, Any]


@dataclass(frozen=True, slots=True, kw_only=True)
class TaskflowTask(Task):
    """A task definition: the function and how to run it.

    Adds to :class:`django.tasks.Task`:

    - ``max_attempts``: how many times it may run before it is failed
      (``None``: the backend's ``OPTIONS["MAX_ATTEMPTS"]``, default 1);
    - ``retry_delay``: seconds between a failed attempt and the next
      (``None``: ``OPTIONS["RETRY_DELAY"]``);
    - ``tags``: labels for filtering in the admin and API;
    - ``key``: the caller's own identifier, usually set per enqueue with
      ``using(key=...)``.
    """

    max_attempts: int | None = None
    retry_delay: float | None = None
    tags: Sequence[str] = ()
    key: str | None = None

    def __post_init__(self) -> None:
        validate_options(self)
        Task.__post_init__(self)

    def using(  # type: ignore[override]
        self,
        *,
        priority: int | None = None,
        queue_name: str | None = None,
        run_after: datetime | None = None,
        backend: str | None = None,
        max_attempts: int | None = None,
        retry_delay: float | None = None,
        tags: Sequence[str] | None = None,
        key: str | None = None,
    ) -> TaskflowTask:
        """Return a copy with the given options changed (for one enqueue, say)."""
        changes = {
            name: value
            for name, value in {
                "priority": priority,
                "queue_name": queue_name,
                "run_after": run_after,
                "backend": backend,
                "max_attempts": max_attempts,
                "retry_delay": retry_delay,
                "tags": tags,
                "key": key,
            }.items()
            if value is not None
        }
        return replace(self, **changes)

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


def validate_options(definition: TaskflowTask) -> None:
    """Raise :class:`InvalidTaskOptions` naming the first bad option."""
    name = getattr(definition.func, "__qualname__", repr(definition.func))
    max_attempts = definition.max_attempts
    if max_attempts is not None and (
        isinstance(max_attempts, bool) or not isinstance(max_attempts, int) or max_attempts < 1
    ):
        raise InvalidTaskOptions(
            f"max_attempts of task {name} must be a whole number of at least 1, got {max_attempts!r}."
        )
    delay = definition.retry_delay
    if delay is not None and (not is_finite_number(delay) or delay < 0):
        raise InvalidTaskOptions(
            f"retry_delay of task {name} must be a number of seconds >= 0, got {delay!r}."
        )
    if isinstance(definition.tags, str) or not all(
        isinstance(tag, str) and tag for tag in definition.tags
    ):
        raise InvalidTaskOptions(
            f"tags of task {name} must be a list of non-empty strings, got {definition.tags!r}."
        )
    key = definition.key
    if key is not None and (not isinstance(key, str) or not key or len(key) > 255):
        raise InvalidTaskOptions(
            f"key of task {name} must be a string of 1 to 255 characters, got {key!r}."
        )


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
    retry_delay: float | None = ...,
    tags: Sequence[str] = ...,
    key: str | None = ...,
) -> Callable[[Callable[..., Any]], TaskflowTask]: ...


def task(
    function: Callable[..., Any] | None = None,
    *,
    priority: int = DEFAULT_TASK_PRIORITY,
    queue_name: str = DEFAULT_TASK_QUEUE_NAME,
    backend: str = DEFAULT_TASK_BACKEND_ALIAS,
    takes_context: bool = False,
    max_attempts: int | None = None,
    retry_delay: float | None = None,
    tags: Sequence[str] = (),
    key: str | None = None,
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
            retry_delay=retry_delay,
            tags=tags,
            key=key,
        )

    if function is not None:
        return wrapper(function)
    return wrapper
