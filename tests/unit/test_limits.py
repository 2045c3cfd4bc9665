"""Concurrency caps and rate limits: checked where given, keyed by the call's arguments."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

import django_taskflow
from django_taskflow import Concurrency, InvalidTaskOptions, RateLimit, task
from django_taskflow.limits import gate_for
from tests import limited_tasks, tasks


def test_presets() -> None:
    assert (Concurrency.SERIAL.limit, Concurrency.LIMITED.limit) == (1, 3)
    assert Concurrency(3) == Concurrency(3, key=None, strategy="fifo")
    assert [(r.limit, r.per) for r in (RateLimit.CONSERVATIVE, RateLimit.MODERATE)] == [
        (5, timedelta(minutes=1)),
        (10, timedelta(minutes=1)),
    ]
    assert (RateLimit.AGGRESSIVE.limit, RateLimit.AGGRESSIVE.per) == (50, timedelta(minutes=1))
    assert (RateLimit.HOURLY.limit, RateLimit.HOURLY.per) == (100, timedelta(hours=1))


def test_exported_from_the_package() -> None:
    assert {"Concurrency", "RateLimit"} <= set(django_taskflow.__all__)


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: Concurrency(0), "Concurrency limit must be a whole number of at least 1, got 0"),
        (lambda: Concurrency(True), "Concurrency limit"),
        (lambda: Concurrency(2.5), "Concurrency limit"),
        (lambda: Concurrency(2, key=3), "Concurrency key must be None, the name of"),
        (lambda: Concurrency(2, key="not a name"), "Concurrency key"),
        (lambda: Concurrency(2, strategy="newest"), "Concurrency strategy must be one of"),
        (lambda: RateLimit(0, per=timedelta(minutes=1)), "RateLimit limit"),
        (lambda: RateLimit(5, per=60), "RateLimit per must be a timedelta"),
        (lambda: RateLimit(5, per=timedelta(0)), "RateLimit per must be a timedelta"),
        (lambda: RateLimit(5, per=timedelta(minutes=1), key=[]), "RateLimit key"),
    ],
)
def test_bad_values_are_refused_where_given(build: Any, message: str) -> None:
    with pytest.raises(InvalidTaskOptions, match=message.replace("(", r"\(")):
        build()


@pytest.mark.parametrize(
    ("options", "option"),
    [
        ({"concurrency": 3}, "concurrency"),
        ({"concurrency": RateLimit.MODERATE}, "concurrency"),
        ({"rate_limit": "10/m"}, "rate_limit"),
        ({"rate_limit": Concurrency(2)}, "rate_limit"),
    ],
)
def test_bad_option_is_refused_when_the_task_is_defined(
    options: dict[str, Any], option: str
) -> None:
    with pytest.raises(InvalidTaskOptions, match=f"^{option} of task add must be None or a"):
        task(**options)(tasks.add.func)


@pytest.mark.parametrize("option", ["concurrency", "rate_limit"])
def test_a_key_naming_no_argument_is_refused_when_the_task_is_defined(option: str) -> None:
    limit = (
        Concurrency(1, key="user_id")
        if option == "concurrency"
        else RateLimit(1, per=timedelta(seconds=1), key="user_id")
    )
    with pytest.raises(InvalidTaskOptions) as info:
        task(**{option: limit})(tasks.add.func)
    assert str(info.value).startswith(f"{option} of task add must be a key naming")
    assert "no argument 'user_id' (its arguments: a, b)" in str(info.value)


def test_a_key_may_name_an_argument_passed_through_kwargs() -> None:
    definition = task(concurrency=Concurrency(1, key="path"))(
        tasks.positional_only_with_options.func
    )
    assert definition.concurrency == Concurrency(1, key="path")


def test_the_context_is_no_argument_for_a_key() -> None:
    with pytest.raises(InvalidTaskOptions, match="no argument 'context'"):
        task(takes_context=True, concurrency=Concurrency(1, key="context"))(tasks.whoami.func)


def test_using_changes_the_limits_for_one_enqueue() -> None:
    changed = limited_tasks.capped.using(concurrency=Concurrency(5), rate_limit=RateLimit.HOURLY)
    assert (changed.concurrency, changed.rate_limit) == (Concurrency(5), RateLimit.HOURLY)
    assert limited_tasks.capped.concurrency == Concurrency(2)
    with pytest.raises(InvalidTaskOptions, match=r"^concurrency of task capped must be"):
        limited_tasks.capped.using(concurrency=2)  # type: ignore[arg-type]


def gate(definition: Any, *args: Any, **kwargs: Any) -> Any:
    return gate_for(
        task_path=definition.module_path,
        func=definition.func,
        takes_context=definition.takes_context,
        concurrency=definition.concurrency,
        rate_limit=definition.rate_limit,
        args=args,
        kwargs=kwargs,
    )


def test_a_task_without_limits_has_no_gate() -> None:
    assert gate(tasks.add, 1, 2) is None


def test_a_key_is_taken_from_the_bound_arguments() -> None:
    path = limited_tasks.one_per_tenant.module_path
    by_position = gate(limited_tasks.one_per_tenant, "/log", "acme", 0.1)
    by_name = gate(limited_tasks.one_per_tenant, "/log", seconds=0.1, tenant="acme")
    assert by_position == by_name
    assert by_position.concurrency_key == by_position.gate_key == f"{path}[acme]"
    assert (by_position.concurrency_limit, by_position.concurrency_strategy) == (1, "fifo")
    assert by_position.rate_key is None


def test_a_callable_key_gets_the_arguments_by_name() -> None:
    found = gate(limited_tasks.two_per_tenant_newest_first, "/log", "acme")
    path = limited_tasks.two_per_tenant_newest_first.module_path
    assert (found.concurrency_key, found.concurrency_strategy) == (f"{path}[ACME]", "lifo")


def test_without_a_key_the_task_is_one_group() -> None:
    found = gate(limited_tasks.rate_limited, "/log", 1)
    path = limited_tasks.rate_limited.module_path
    assert (found.gate_key, found.rate_key, found.rate_limit, found.rate_seconds) == (
        path,
        path,
        3,
        2.0,
    )
    assert found.concurrency_key is None


def test_a_task_with_both_limits_has_a_gate_for_the_pair() -> None:
    found = gate(limited_tasks.capped_and_rate_limited, "/log", "acct-1")
    path = limited_tasks.capped_and_rate_limited.module_path
    assert found.concurrency_key == found.rate_key == f"{path}[acct-1]"
    assert found.gate_key == f"{path}[acct-1] {path}[acct-1]"


def test_keys_that_are_not_text_are_stored_as_json_and_long_ones_as_a_digest() -> None:
    path = limited_tasks.one_per_tenant.module_path
    assert gate(limited_tasks.one_per_tenant, "/l", 42, 0).concurrency_key == f"{path}[42]"
    assert gate(limited_tasks.one_per_tenant, "/l", None, 0).concurrency_key == f"{path}[null]"
    long_key = gate(limited_tasks.one_per_tenant, "/l", "x" * 1000, 0).concurrency_key
    assert long_key.startswith(f"{path}[sha256:") and len(long_key) < 400
    other = gate(limited_tasks.one_per_tenant, "/l", "x" * 999 + "y", 0).concurrency_key
    assert other != long_key


def test_a_key_that_is_no_json_value_is_refused_at_enqueue() -> None:
    with pytest.raises(InvalidTaskOptions, match="the concurrency key must be a string"):
        gate(limited_tasks.one_per_tenant, "/l", object(), 0)


def test_a_failing_key_function_is_reported_with_the_option() -> None:
    with pytest.raises(InvalidTaskOptions, match=r"the concurrency key function of .* failed"):
        gate(limited_tasks.two_per_tenant_newest_first, "/log", 7)  # 7.upper()


def test_djangos_decorator_passes_the_limits_through() -> None:
    from django.tasks import task as django_task

    definition = django_task(concurrency=Concurrency.SERIAL, rate_limit=RateLimit.MODERATE)(
        tasks.add.func
    )
    assert (definition.concurrency, definition.rate_limit) == (
        Concurrency.SERIAL,
        RateLimit.MODERATE,
    )
