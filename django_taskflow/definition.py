"""``@task`` and :class:`TaskflowTask`, Django's task definition plus our options."""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal, overload

from asgiref.sync import sync_to_async
from django.conf import settings
from django.tasks import DEFAULT_TASK_BACKEND_ALIAS, DEFAULT_TASK_QUEUE_NAME, Task
from django.tasks.base import DEFAULT_TASK_PRIORITY, TASK_MAX_PRIORITY, TASK_MIN_PRIORITY
from django.utils import timezone

from django_taskflow.cron import CronExpression
from django_taskflow.dedup import Dedup, missing_fields
from django_taskflow.exceptions import InvalidSchedule, InvalidTaskOptions
from django_taskflow.limits import Concurrency, RateLimit, key_problem
from django_taskflow.policies import MAX_ATTEMPTS_LIMIT, RetryPolicy, is_attempt_count
from django_taskflow.states import OnLost
from django_taskflow.text import storable_text
from django_taskflow.timeouts import Timeout

if TYPE_CHECKING:
    from django_taskflow.flows.steps import Step
    from django_taskflow.results import TaskflowResult

type Call = Sequence[Any] | dict[str, Any]
type ErrorClasses = Sequence[type[BaseException]]
type OnLostChoice = Literal["requeue", "fail"]
# What schedule= takes: a cron builder (cron.daily_at(9, 30)), an expression, an interval.
type ScheduleChoice = CronExpression | str | timedelta

# What the Task table's columns hold (models/task.py); checked here so that a
# value too long is refused at definition, not by the database at enqueue.
KEY_MAX_LENGTH = 255
NAME_MAX_LENGTH = 100

# Options the worker reads from the definition itself (they are code, not
# data), so they cannot change for one enqueue with using().
DEFINITION_ONLY = ("retry_if", "retry_on", "dont_retry_on", "validator")


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

    def __post_init__(self) -> None:
        validate_options(self)
        Task.__post_init__(self)
        if self.schedule is not None:
            from django_taskflow import schedules

            try:
                schedules.declare(schedules.build_declaration(self, cron_or_every=self.schedule))
            except InvalidSchedule as exc:
                _refuse(self, "schedule", f"a schedule this task can run on ({exc})", self.schedule)

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


CAPABILITY_MAX_LENGTH = 100


def is_capability(value: Any) -> bool:
    """A capability name: a non-empty string without commas or surrounding spaces.

    Workers list theirs comma-separated (``--capabilities gpu,eu-west``),
    so a name with a comma could never be offered.
    """
    return (
        _is_storable_text(value, CAPABILITY_MAX_LENGTH)
        and "," not in value
        and value == value.strip()
    )


def as_capabilities(value: Any) -> Any:
    """A set, list or tuple of names as a frozenset; anything else unchanged, for the check."""
    if isinstance(value, set | frozenset | list | tuple):
        return frozenset(value)
    return value


def _refuse(definition: TaskflowTask, option: str, expected: str, value: Any) -> None:
    name = getattr(definition.func, "__qualname__", repr(definition.func))
    raise InvalidTaskOptions(f"{option} of task {name} must be {expected}, got {value!r}.")


def _is_error_classes(value: Any) -> bool:
    return isinstance(value, tuple | list) and all(
        isinstance(kind, type) and issubclass(kind, BaseException) for kind in value
    )


def _is_storable_text(value: Any, max_length: int | None = None) -> bool:
    """A non-empty str the database can hold as it is (no NUL, no lone surrogate)."""
    return (
        isinstance(value, str)
        and bool(value)
        and (max_length is None or len(value) <= max_length)
        and storable_text(value) is value
    )


def validate_options(definition: TaskflowTask) -> None:
    """Raise :class:`InvalidTaskOptions` naming the first bad option and what it accepts.

    Runs before Django's own checks of the definition, so that every option
    given a value of the wrong type or range gets this error rather than a
    raw ``TypeError`` or a database error at enqueue.
    """
    _validate_django_options(definition)
    max_attempts = definition.max_attempts
    if max_attempts is not None and not is_attempt_count(max_attempts):
        _refuse(
            definition,
            "max_attempts",
            f"None or a whole number from 1 to {MAX_ATTEMPTS_LIMIT:,}",
            max_attempts,
        )
    if definition.retry is not None and not isinstance(definition.retry, RetryPolicy):
        _refuse(
            definition, "retry", "a RetryPolicy (e.g. RetryPolicy.exponential())", definition.retry
        )
    for option in ("retry_if", "validator"):
        value = getattr(definition, option)
        if value is not None and not callable(value):
            _refuse(definition, option, "a callable", value)
    for option in ("retry_on", "dont_retry_on"):
        value = getattr(definition, option)
        if not _is_error_classes(value):
            _refuse(definition, option, "a tuple of exception classes", value)
    if definition.timeout is not None and not isinstance(definition.timeout, Timeout):
        _refuse(definition, "timeout", "a Timeout (e.g. Timeout.QUICK)", definition.timeout)
    if definition.on_lost not in OnLost.values:
        _refuse(definition, "on_lost", '"requeue" or "fail"', definition.on_lost)
    tags = definition.tags
    if isinstance(tags, str) or not isinstance(tags, Sequence):
        _refuse(definition, "tags", "a list of non-empty strings", tags)
    for tag in tags:
        if not _is_storable_text(tag):
            _refuse(
                definition,
                "tags",
                "a list of non-empty strings without NUL or lone surrogates",
                tags,
            )
    requires = definition.requires
    if not isinstance(requires, set | frozenset | list | tuple) or not all(
        is_capability(name) for name in requires
    ):
        _refuse(
            definition,
            "requires",
            f"a set of capability names (non-empty strings of at most {CAPABILITY_MAX_LENGTH} "
            'characters, without commas or surrounding spaces), e.g. {"gpu", "eu-west"}',
            requires,
        )
    if definition.schedule is not None:
        from django_taskflow.scheduling import timing_from

        try:
            timing_from(definition.schedule, timezone="UTC")
        except InvalidSchedule as exc:
            _refuse(
                definition,
                "schedule",
                f"a cron builder, a cron expression or a timedelta ({exc})",
                definition.schedule,
            )
    key = definition.key
    if key is not None and not _is_storable_text(key, KEY_MAX_LENGTH):
        _refuse(
            definition,
            "key",
            f"None or a string of 1 to {KEY_MAX_LENGTH} characters without NUL or lone surrogates",
            key,
        )
    _validate_dedup(definition)
    _validate_limits(definition)


def _validate_dedup(definition: TaskflowTask) -> None:
    if not isinstance(definition.unique, bool):
        _refuse(definition, "unique", "True or False", definition.unique)
    dedup = definition.dedup
    if dedup is None:
        return
    if not isinstance(dedup, Dedup):
        _refuse(
            definition,
            "dedup",
            "None or a Dedup, such as Dedup.by_input(ttl=timedelta(minutes=5))",
            dedup,
        )
    if definition.unique:
        _refuse(
            definition,
            "dedup",
            "None when unique=True (unique already deduplicates identical calls while "
            "one is queued or running; choose one of the two)",
            dedup,
        )
    missing = missing_fields(definition.func, definition.takes_context, dedup.fields)
    if missing:
        _refuse(
            definition,
            "dedup",
            f"Dedup.by_fields naming parameters of the function; it has no {missing[0]!r}",
            dedup,
        )


def _validate_limits(definition: TaskflowTask) -> None:
    """``concurrency`` and ``rate_limit``: their type, and a key naming a real argument."""
    for option, kind, example in (
        ("concurrency", Concurrency, "Concurrency(3) or Concurrency.SERIAL"),
        ("rate_limit", RateLimit, "RateLimit(10, per=timedelta(minutes=1)) or RateLimit.MODERATE"),
    ):
        value = getattr(definition, option)
        if value is None:
            continue
        if not isinstance(value, kind):
            _refuse(definition, option, f"None or a {kind.__name__} (e.g. {example})", value)
        problem = key_problem(definition.func, definition.takes_context, value.key)
        if problem is not None:
            _refuse(definition, option, f"a key naming one of its arguments ({problem})", value)


def _validate_django_options(definition: TaskflowTask) -> None:
    """Check the options Django's ``Task`` defines, type first, with our error."""
    priority = definition.priority
    if (
        isinstance(priority, bool)
        or not isinstance(priority, int)
        or not TASK_MIN_PRIORITY <= priority <= TASK_MAX_PRIORITY
    ):
        _refuse(
            definition,
            "priority",
            f"a whole number from {TASK_MIN_PRIORITY} to {TASK_MAX_PRIORITY}",
            priority,
        )
    if not _is_storable_text(definition.queue_name, NAME_MAX_LENGTH):
        _refuse(
            definition,
            "queue_name",
            f"the name of a queue: a string of 1 to {NAME_MAX_LENGTH} characters",
            definition.queue_name,
        )
    if not _is_storable_text(definition.backend, NAME_MAX_LENGTH):
        _refuse(definition, "backend", "the alias of a backend in TASKS", definition.backend)
    if not isinstance(definition.takes_context, bool):
        _refuse(definition, "takes_context", "True or False", definition.takes_context)
    run_after = definition.run_after
    if run_after is not None and (
        not isinstance(run_after, datetime) or (settings.USE_TZ and timezone.is_naive(run_after))
    ):
        _refuse(
            definition,
            "run_after",
            "None or an aware datetime, such as timezone.now() + timedelta(minutes=5)",
            run_after,
        )
    backend = definition.get_backend()  # an unknown alias raises Django's InvalidTaskBackend
    if backend.queues and definition.queue_name not in backend.queues:
        known = ", ".join(repr(queue) for queue in sorted(backend.queues))
        _refuse(
            definition,
            "queue_name",
            f"one of the QUEUES of TASKS[{definition.backend!r}] ({known})",
            definition.queue_name,
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
        )

    if function is not None:
        return wrapper(function)
    return wrapper
