"""Checks of a definition's options, run when ``@task`` (or ``using()``) builds it.

Each bad option raises :class:`InvalidTaskOptions` naming the option, what
it accepts and the value given, before Django's own checks, so that no
option reaches a ``TypeError`` or the database at enqueue.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.tasks.base import TASK_MAX_PRIORITY, TASK_MIN_PRIORITY
from django.utils import timezone

from django_taskflow.dedup import Dedup, missing_fields
from django_taskflow.exceptions import InvalidSchedule, InvalidTaskOptions
from django_taskflow.limits import Concurrency, RateLimit, key_problem
from django_taskflow.policies import MAX_ATTEMPTS_LIMIT, RetryPolicy, is_attempt_count
from django_taskflow.states import OnLost
from django_taskflow.text import storable_text
from django_taskflow.timeouts import Timeout

if TYPE_CHECKING:
    from django_taskflow.definition import TaskflowTask

# What the Task table's columns hold (models/task.py); checked here so that a
# value too long is refused at definition, not by the database at enqueue.
KEY_MAX_LENGTH = 255
NAME_MAX_LENGTH = 100

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


def refuse(definition: TaskflowTask, option: str, expected: str, value: Any) -> None:
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
        refuse(
            definition,
            "max_attempts",
            f"None or a whole number from 1 to {MAX_ATTEMPTS_LIMIT:,}",
            max_attempts,
        )
    if definition.retry is not None and not isinstance(definition.retry, RetryPolicy):
        refuse(
            definition, "retry", "a RetryPolicy (e.g. RetryPolicy.exponential())", definition.retry
        )
    version = definition.version
    if isinstance(version, bool) or not isinstance(version, int) or not 1 <= version <= 32767:
        refuse(definition, "version", "a whole number from 1 to 32,767", version)
    if not isinstance(definition.encoder, str) or not definition.encoder:
        refuse(definition, "encoder", "the name of a registered encoder", definition.encoder)
    if not isinstance(definition.encrypted, bool):
        refuse(definition, "encrypted", "True or False", definition.encrypted)
    for option in ("retry_if", "validator", "upgrade"):
        value = getattr(definition, option)
        if value is not None and not callable(value):
            refuse(definition, option, "a callable", value)
    for option in ("retry_on", "dont_retry_on"):
        value = getattr(definition, option)
        if not _is_error_classes(value):
            refuse(definition, option, "a tuple of exception classes", value)
    if definition.timeout is not None and not isinstance(definition.timeout, Timeout):
        refuse(definition, "timeout", "a Timeout (e.g. Timeout.QUICK)", definition.timeout)
    if definition.on_lost not in OnLost.values:
        refuse(definition, "on_lost", '"requeue" or "fail"', definition.on_lost)
    tags = definition.tags
    if isinstance(tags, str) or not isinstance(tags, Sequence):
        refuse(definition, "tags", "a list of non-empty strings", tags)
    for tag in tags:
        if not _is_storable_text(tag):
            refuse(
                definition,
                "tags",
                "a list of non-empty strings without NUL or lone surrogates",
                tags,
            )
    requires = definition.requires
    if not isinstance(requires, set | frozenset | list | tuple) or not all(
        is_capability(name) for name in requires
    ):
        refuse(
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
            refuse(
                definition,
                "schedule",
                f"a cron builder, a cron expression or a timedelta ({exc})",
                definition.schedule,
            )
    key = definition.key
    if key is not None and not _is_storable_text(key, KEY_MAX_LENGTH):
        refuse(
            definition,
            "key",
            f"None or a string of 1 to {KEY_MAX_LENGTH} characters without NUL or lone surrogates",
            key,
        )
    if not isinstance(definition.api, bool):
        refuse(definition, "api", "True or False", definition.api)
    _validate_dedup(definition)
    _validate_limits(definition)


def _validate_dedup(definition: TaskflowTask) -> None:
    if not isinstance(definition.unique, bool):
        refuse(definition, "unique", "True or False", definition.unique)
    dedup = definition.dedup
    if dedup is None:
        return
    if not isinstance(dedup, Dedup):
        refuse(
            definition,
            "dedup",
            "None or a Dedup, such as Dedup.by_input(ttl=timedelta(minutes=5))",
            dedup,
        )
    if definition.unique:
        refuse(
            definition,
            "dedup",
            "None when unique=True (unique already deduplicates identical calls while "
            "one is queued or running; choose one of the two)",
            dedup,
        )
    missing = missing_fields(definition.func, definition.takes_context, dedup.fields)
    if missing:
        refuse(
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
            refuse(definition, option, f"None or a {kind.__name__} (e.g. {example})", value)
        problem = key_problem(definition.func, definition.takes_context, value.key)
        if problem is not None:
            refuse(definition, option, f"a key naming one of its arguments ({problem})", value)


def _validate_django_options(definition: TaskflowTask) -> None:
    """Check the options Django's ``Task`` defines, type first, with our error."""
    priority = definition.priority
    if (
        isinstance(priority, bool)
        or not isinstance(priority, int)
        or not TASK_MIN_PRIORITY <= priority <= TASK_MAX_PRIORITY
    ):
        refuse(
            definition,
            "priority",
            f"a whole number from {TASK_MIN_PRIORITY} to {TASK_MAX_PRIORITY}",
            priority,
        )
    if not _is_storable_text(definition.queue_name, NAME_MAX_LENGTH):
        refuse(
            definition,
            "queue_name",
            f"the name of a queue: a string of 1 to {NAME_MAX_LENGTH} characters",
            definition.queue_name,
        )
    if not _is_storable_text(definition.backend, NAME_MAX_LENGTH):
        refuse(definition, "backend", "the alias of a backend in TASKS", definition.backend)
    if not isinstance(definition.takes_context, bool):
        refuse(definition, "takes_context", "True or False", definition.takes_context)
    run_after = definition.run_after
    if run_after is not None and (
        not isinstance(run_after, datetime) or (settings.USE_TZ and timezone.is_naive(run_after))
    ):
        refuse(
            definition,
            "run_after",
            "None or an aware datetime, such as timezone.now() + timedelta(minutes=5)",
            run_after,
        )
    backend = definition.get_backend()  # an unknown alias raises Django's InvalidTaskBackend
    if backend.queues and definition.queue_name not in backend.queues:
        known = ", ".join(repr(queue) for queue in sorted(backend.queues))
        refuse(
            definition,
            "queue_name",
            f"one of the QUEUES of TASKS[{definition.backend!r}] ({known})",
            definition.queue_name,
        )
