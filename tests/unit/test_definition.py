"""Task definitions: options checked when the task is defined, copies made by using()."""

from __future__ import annotations

import datetime
import math
import re
from typing import Any

import pytest
from django.tasks import task as django_task
from django.tasks.exceptions import InvalidTask

from django_taskflow import TaskflowTask, task
from django_taskflow.exceptions import InvalidTaskOptions, TaskflowError
from django_taskflow.policies import RetryPolicy
from django_taskflow.timeouts import Timeout
from tests import tasks

SURROGATE = b"\xff".decode("utf-8", "surrogateescape")


def is_transient(error: object) -> bool:
    return isinstance(error, ConnectionError)


def reject_negative(value: object) -> object:
    return value if isinstance(value, int) and value < 0 else None


@pytest.mark.parametrize(
    ("options", "option"),
    [
        ({"max_attempts": 0}, "max_attempts"),
        ({"max_attempts": -1}, "max_attempts"),
        ({"max_attempts": "3"}, "max_attempts"),
        ({"max_attempts": True}, "max_attempts"),
        ({"max_attempts": 2.5}, "max_attempts"),
        ({"retry": 5}, "retry"),
        ({"retry": "exponential"}, "retry"),
        ({"retry": {"kind": "fixed", "delay": 1}}, "retry"),
        ({"retry_if": True}, "retry_if"),
        ({"retry_if": "is_transient"}, "retry_if"),
        ({"retry_on": ConnectionError}, "retry_on"),
        ({"retry_on": ("ConnectionError",)}, "retry_on"),
        ({"retry_on": (int,)}, "retry_on"),
        ({"retry_on": (ConnectionError(),)}, "retry_on"),
        ({"dont_retry_on": PermissionError}, "dont_retry_on"),
        ({"dont_retry_on": (PermissionError, None)}, "dont_retry_on"),
        ({"validator": 415}, "validator"),
        ({"validator": "reject_negative"}, "validator"),
        ({"timeout": 30}, "timeout"),
        ({"timeout": {"soft": 10, "hard": 30}}, "timeout"),
        ({"timeout": "quick"}, "timeout"),
        ({"tags": "urgent"}, "tags"),
        ({"tags": ["ok", ""]}, "tags"),
        ({"tags": ["ok", 7]}, "tags"),
        ({"key": ""}, "key"),
        ({"key": "k" * 256}, "key"),
        ({"key": 42}, "key"),
        ({"key": "a\x00b"}, "key"),
        ({"key": SURROGATE}, "key"),
        ({"tags": ["a\x00b"]}, "tags"),
        ({"tags": ["ok", SURROGATE]}, "tags"),
        ({"tags": 7}, "tags"),
        ({"max_attempts": 10**12}, "max_attempts"),
        ({"priority": True}, "priority"),
        ({"priority": math.nan}, "priority"),
        ({"priority": "high"}, "priority"),
        ({"priority": 2.0}, "priority"),
        ({"queue_name": 7}, "queue_name"),
        ({"queue_name": ""}, "queue_name"),
        ({"queue_name": "q\x00"}, "queue_name"),
        ({"queue_name": "q" * 101}, "queue_name"),
        ({"backend": 7}, "backend"),
        ({"takes_context": "yes"}, "takes_context"),
        ({"on_lost": "retry"}, "on_lost"),
        ({"on_lost": None}, "on_lost"),
        ({"api": "yes"}, "api"),
        ({"api": 1}, "api"),
    ],
)
def test_bad_option_is_refused_when_the_task_is_defined(
    options: dict[str, Any], option: str
) -> None:
    with pytest.raises(InvalidTaskOptions) as info:
        task(**options)(tasks.add.func)

    message = str(info.value)
    assert message.startswith(f"{option} of task add must be")
    assert message.endswith(f"got {options[option]!r}.")


def test_invalid_task_options_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="max_attempts of task add"):
        task(max_attempts=0)(tasks.add.func)


def test_invalid_task_options_is_django_invalid_task() -> None:
    with pytest.raises(InvalidTask, match="max_attempts of task add"):
        task(max_attempts=0)(tasks.add.func)


def test_invalid_task_options_is_a_taskflow_error() -> None:
    with pytest.raises(TaskflowError):
        task(retry="exponential")(tasks.add.func)


def test_retry_delay_is_no_longer_an_option() -> None:
    with pytest.raises(TypeError, match="retry_delay"):
        task(retry_delay=5)(tasks.add.func)  # type: ignore[call-overload]


def test_good_options_are_kept_on_the_definition() -> None:
    policy = RetryPolicy.linear(delay=2, max_delay=20)
    definition = task(
        max_attempts=3,
        retry=policy,
        retry_if=is_transient,
        retry_on=(ConnectionError, TimeoutError),
        dont_retry_on=(PermissionError,),
        validator=reject_negative,
        timeout=Timeout.QUICK,
        tags=["billing", "nightly"],
        key="k" * 255,
    )(tasks.add.func)

    assert definition.max_attempts == 3
    assert definition.retry is policy
    assert definition.retry_if is is_transient
    assert definition.retry_on == (ConnectionError, TimeoutError)
    assert definition.dont_retry_on == (PermissionError,)
    assert definition.validator is reject_negative
    assert definition.timeout is Timeout.QUICK
    assert list(definition.tags) == ["billing", "nightly"]
    assert definition.key == "k" * 255


def test_lists_of_exception_classes_are_kept_as_tuples() -> None:
    definition = task(retry_on=[ConnectionError], dont_retry_on=[PermissionError, KeyError])(
        tasks.add.func
    )

    assert definition.retry_on == (ConnectionError,)
    assert definition.dont_retry_on == (PermissionError, KeyError)


def test_retry_on_accepts_base_exception_subclasses() -> None:
    definition = task(retry_on=(KeyboardInterrupt,))(tasks.add.func)

    assert definition.retry_on == (KeyboardInterrupt,)


def test_bare_decorator_leaves_options_to_the_backend() -> None:
    assert isinstance(tasks.add, TaskflowTask)
    assert tasks.add.max_attempts is None
    assert tasks.add.retry is None
    assert tasks.add.retry_if is None
    assert tuple(tasks.add.retry_on) == ()
    assert tuple(tasks.add.dont_retry_on) == ()
    assert tasks.add.validator is None
    assert tasks.add.timeout is None
    assert tuple(tasks.add.tags) == ()
    assert tasks.add.key is None
    assert tasks.add.on_lost == "requeue"


def test_on_lost_can_be_set_on_the_decorator_and_changed_with_using() -> None:
    definition = task(on_lost="fail")(tasks.add.func)

    assert definition.on_lost == "fail"
    assert definition.using(on_lost="requeue").on_lost == "requeue"
    assert definition.using(priority=3).on_lost == "fail"


def test_using_returns_a_copy_with_the_options_changed() -> None:
    policy = RetryPolicy.fixed(1.5)
    copy = tasks.echo.using(
        max_attempts=4,
        retry=policy,
        timeout=Timeout.QUICK,
        tags=["a"],
        key="order-1",
        queue_name="emails",
        priority=10,
    )

    assert isinstance(copy, TaskflowTask)
    assert copy.func is tasks.echo.func
    assert copy.max_attempts == 4
    assert copy.retry is policy
    assert copy.timeout is Timeout.QUICK
    assert list(copy.tags) == ["a"]
    assert copy.key == "order-1"
    assert copy.queue_name == "emails"
    assert copy.priority == 10


def test_using_leaves_the_original_alone() -> None:
    tasks.fail_always.using(max_attempts=9, key="once", queue_name="reports")

    assert tasks.fail_always.max_attempts == 3
    assert tasks.fail_always.key is None
    assert tasks.fail_always.queue_name == "default"


def test_using_keeps_the_options_it_is_not_given() -> None:
    copy = tasks.fail_always.using(key="k")

    assert copy.max_attempts == 3
    assert copy.retry == RetryPolicy.fixed(0)
    assert copy.queue_name == tasks.fail_always.queue_name
    assert copy.priority == tasks.fail_always.priority


def test_using_keeps_the_definition_only_options() -> None:
    definition = task(
        retry_if=is_transient,
        retry_on=(ConnectionError,),
        dont_retry_on=(PermissionError,),
        validator=reject_negative,
    )(tasks.add.func)

    copy = definition.using(max_attempts=2)

    assert copy.retry_if is is_transient
    assert copy.retry_on == (ConnectionError,)
    assert copy.dont_retry_on == (PermissionError,)
    assert copy.validator is reject_negative


def test_using_accepts_zero_priority() -> None:
    assert tasks.add.using(priority=5).using(priority=0).priority == 0


@pytest.mark.parametrize(
    ("options", "option"),
    [
        ({"max_attempts": 0}, "max_attempts"),
        ({"retry": "exponential"}, "retry"),
        ({"timeout": 30}, "timeout"),
        ({"tags": "urgent"}, "tags"),
        ({"key": ""}, "key"),
        ({"key": "a\x00b"}, "key"),
        ({"tags": [SURROGATE]}, "tags"),
        ({"max_attempts": 10**12}, "max_attempts"),
        ({"priority": "high"}, "priority"),
        ({"priority": True}, "priority"),
        ({"priority": math.nan}, "priority"),
        ({"queue_name": 7}, "queue_name"),
        ({"backend": 7}, "backend"),
        ({"run_after": "2030-01-01"}, "run_after"),
        ({"run_after": datetime.datetime(2030, 1, 1)}, "run_after"),
        ({"on_lost": "ignore"}, "on_lost"),
    ],
)
def test_using_refuses_bad_options(options: dict[str, Any], option: str) -> None:
    with pytest.raises(InvalidTaskOptions) as info:
        tasks.echo.using(**options)

    assert str(info.value).startswith(f"{option} of task echo must be")
    assert str(info.value).endswith(f"got {options[option]!r}.")


@pytest.mark.parametrize(
    ("options", "allowed"),
    [
        ({"priority": "high"}, "a whole number from -100 to 100"),
        ({"max_attempts": 10**12}, "a whole number from 1 to 2,147,483,647"),
        ({"key": "a\x00b"}, "a string of 1 to 255 characters without NUL or lone surrogates"),
        ({"tags": ["a\x00b"]}, "a list of non-empty strings without NUL or lone surrogates"),
        ({"run_after": "tomorrow"}, "an aware datetime"),
    ],
)
def test_invalid_option_message_names_the_allowed_range(
    options: dict[str, Any], allowed: str
) -> None:
    with pytest.raises(InvalidTaskOptions, match=re.escape(allowed)):
        tasks.echo.using(**options)


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("retry_if", is_transient),
        ("retry_on", (ConnectionError,)),
        ("dont_retry_on", (PermissionError,)),
        ("validator", reject_negative),
    ],
)
def test_using_refuses_options_only_task_can_take(option: str, value: object) -> None:
    with pytest.raises(InvalidTaskOptions) as info:
        tasks.echo.using(**{option: value})

    assert str(info.value).startswith(f"{option} can only be given to @task")


@pytest.mark.parametrize("option", ["retry_delay", "colour"])
def test_using_refuses_an_unknown_option_with_type_error(option: str) -> None:
    with pytest.raises(TypeError, match=f"unexpected keyword argument '{option}'"):
        tasks.echo.using(**{option: 1})


def test_using_refuses_an_unknown_queue() -> None:
    with pytest.raises(InvalidTask, match=r"queue_name of task echo must be one of the QUEUES"):
        tasks.echo.using(queue_name="nope")


def test_django_task_decorator_builds_a_taskflow_task_with_our_options() -> None:
    assert isinstance(tasks.plain_with_options, TaskflowTask)
    assert tasks.plain_with_options.max_attempts == 2
    assert tasks.plain_with_options.retry == RetryPolicy.fixed(0)


def test_django_task_decorator_without_options_builds_a_taskflow_task() -> None:
    assert isinstance(tasks.plain_multiply, TaskflowTask)
    assert tasks.plain_multiply.max_attempts is None


def test_django_task_decorator_validates_our_options() -> None:
    with pytest.raises(InvalidTaskOptions, match="max_attempts of task plain_multiply"):
        django_task(max_attempts=0)(tasks.plain_multiply.func)


def test_async_function_is_accepted() -> None:
    definition = task(max_attempts=2)(tasks.async_add.func)

    assert isinstance(definition, TaskflowTask)
    assert definition.call(2, 3) == 5


def test_function_not_defined_at_module_level_is_refused() -> None:
    def local_job() -> None:
        return None

    with pytest.raises(InvalidTask, match="module level"):
        task(local_job)


def test_unknown_queue_is_refused_when_the_task_is_defined() -> None:
    with pytest.raises(InvalidTaskOptions) as info:
        task(queue_name="nope")(tasks.add.func)

    assert str(info.value).startswith(
        "queue_name of task add must be one of the QUEUES of TASKS['default'] ('critical', 'default', "
    )
    assert str(info.value).endswith(", got 'nope'.")


def test_configured_queue_is_accepted() -> None:
    assert task(queue_name="reports")(tasks.add.func).queue_name == "reports"


@pytest.mark.parametrize("priority", [-101, 101])
def test_priority_outside_django_range_is_refused(priority: int) -> None:
    with pytest.raises(InvalidTask, match="priority of task add must be a whole number from -100"):
        task(priority=priority)(tasks.add.func)
