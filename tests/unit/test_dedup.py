"""Dedup options, checked where they are given, and the keys they derive from a call."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from django_taskflow import Dedup, TaskflowTask, task
from django_taskflow.dedup import dedup_key, input_key
from django_taskflow.exceptions import InvalidTaskOptions
from tests import tasks

pytestmark = pytest.mark.django_db  # defining a task looks up its backend, not the tables


def notify(user_id: int, message: str = "hi", **extra: Any) -> None: ...


def greet(name: str, greeting: str = "hello") -> None: ...


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: Dedup.by_input(ttl=0), "ttl of Dedup.by_input must be a positive timedelta"),
        (lambda: Dedup.by_input(ttl=timedelta(seconds=-1)), "ttl of Dedup.by_input"),
        (lambda: Dedup.by_input(ttl=True), "ttl of Dedup.by_input"),
        (lambda: Dedup.by_input(ttl="5m"), "ttl of Dedup.by_input"),
        (lambda: Dedup.by_input(ttl=float("inf")), "ttl of Dedup.by_input"),
        (lambda: Dedup.by_key(ttl=None), "ttl of Dedup.by_key"),
        (lambda: Dedup.by_fields("user_id", ttl=60), "fields of Dedup.by_fields"),
        (lambda: Dedup.by_fields([], ttl=60), "fields of Dedup.by_fields"),
        (lambda: Dedup.by_fields(["a", "a"], ttl=60), "fields of Dedup.by_fields"),
        (lambda: Dedup.by_fields([1], ttl=60), "fields of Dedup.by_fields"),
        (lambda: Dedup.by_fields(["a"], ttl=60, debounce=0), "debounce of Dedup.by_fields"),
        (lambda: Dedup.by_key(ttl=60, debounce="soon"), "debounce of Dedup.by_key"),
        (lambda: Dedup.by_fields(["a"], ttl=5, debounce=10), "must not be longer than its ttl"),
    ],
)
def test_a_bad_dedup_is_refused_when_built_naming_the_argument(build: Any, message: str) -> None:
    with pytest.raises(InvalidTaskOptions, match=message):
        build()


def test_an_unknown_dedup_kind_is_refused() -> None:
    with pytest.raises(InvalidTaskOptions, match="by of Dedup must be one of"):
        Dedup(by="everything", ttl=60)  # type: ignore[arg-type]


def test_by_input_takes_a_debounce_no_longer_than_its_ttl() -> None:
    assert Dedup.by_input(ttl=60, debounce=timedelta(seconds=10)).debounce == 10.0
    with pytest.raises(InvalidTaskOptions, match=r"debounce of Dedup.by_input must not be longer"):
        Dedup.by_input(ttl=5, debounce=10)


def test_ttl_and_debounce_take_a_timedelta_or_seconds() -> None:
    assert Dedup.by_input(ttl=timedelta(minutes=5)) == Dedup.by_input(ttl=300)
    assert Dedup.by_key(ttl=60, debounce=timedelta(seconds=10)).debounce == 10.0


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"dedup": "input"}, "dedup of task greet must be None or a Dedup"),
        ({"dedup": Dedup.by_fields(["user_id"], ttl=60)}, "it has no 'user_id'"),
        ({"unique": 1}, "unique of task greet must be True or False"),
        ({"unique": True, "dedup": Dedup.by_input(ttl=60)}, "None when unique=True"),
    ],
)
def test_bad_dedup_options_are_refused_when_the_task_is_defined(
    options: dict[str, Any], message: str
) -> None:
    with pytest.raises(InvalidTaskOptions, match=message):
        task(**options)(greet)


def test_by_fields_may_name_any_keyword_of_a_function_taking_kwargs() -> None:
    definition = task(dedup=Dedup.by_fields(["tenant"], ttl=60))(notify)
    assert isinstance(definition, TaskflowTask)


def test_by_fields_does_not_count_the_context_as_a_parameter() -> None:
    with pytest.raises(InvalidTaskOptions, match="it has no 'context'"):
        tasks.fail_until_attempt.using(dedup=Dedup.by_fields(["context"], ttl=60))
    tasks.fail_until_attempt.using(dedup=Dedup.by_fields(["succeed_on"], ttl=60))


def test_using_keeps_or_clears_dedup() -> None:
    assert tasks.deduplicated_add.using(priority=5).dedup == tasks.deduplicated_add.dedup
    assert tasks.deduplicated_add.using(dedup=False).dedup is None
    assert tasks.unique_add.using(unique=False).unique is False


def key_of(*args: Any, **kwargs: Any) -> str:
    return input_key("app.tasks.greet", greet, False, args, kwargs)


def test_an_input_key_is_the_same_however_the_call_is_written() -> None:
    assert key_of("ann") == key_of(name="ann") == key_of("ann", greeting="hello")
    assert key_of("ann") != key_of("ann", "hi")
    assert key_of("ann") != input_key("app.tasks.other", greet, False, ("ann",), {})


def test_an_input_key_is_stable_across_dict_order_and_awkward_text() -> None:
    first = key_of({"b": 1, "a": [1.5, None, "\u2028"]})
    assert first == key_of({"a": [1.5, None, "\u2028"], "b": 1})
    assert len(first) == 64
    # The payload check refuses these before a key is made; the key itself still copes.
    assert key_of("nul \x00") != key_of("nul ")
    assert key_of("lone \udcff") != key_of("lone \udcfe")
    assert len(key_of("x" * 5_000_000)) == 64
    assert len(key_of(10**300)) == 64


def test_a_field_not_given_differs_from_any_value() -> None:
    by_extra = Dedup.by_fields(["tenant"], ttl=60)
    keys = {
        dedup_key(by_extra, "app.notify", notify, False, (1,), kwargs, None)
        for kwargs in ({}, {"tenant": None}, {"tenant": "a"})
    }
    assert len(keys) == 3
    same = {
        dedup_key(by_extra, "app.notify", notify, False, (user,), {"tenant": "a"}, None)
        for user in (1, 2)
    }
    assert len(same) == 1


def test_a_default_that_is_not_json_is_left_out_of_the_key() -> None:
    marker = object()

    def uses_an_object(value: int, sentinel: object = marker) -> None: ...

    assert input_key("app.f", uses_an_object, False, (1,), {}) == input_key(
        "app.f", uses_an_object, False, (1,), {}
    )
