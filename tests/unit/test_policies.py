"""Retry policies and timeouts: delays, jitter, validation and JSON round trips."""

from __future__ import annotations

import math
import random
from dataclasses import replace
from typing import Any

import pytest

from django_taskflow import policies, timeouts
from django_taskflow.exceptions import InvalidTaskOptions, TaskflowError
from django_taskflow.policies import RetryPolicy, coerce_policy
from django_taskflow.timeouts import Timeout

SETTING = "TASKS['default']['OPTIONS']['RETRY_POLICY']"
calls: list[int] = []


def square_seconds(attempt: int) -> float:
    """A custom delay function defined at module level, as custom() requires."""
    calls.append(attempt)
    return float(attempt * attempt)


def negative_seconds(attempt: int) -> float:
    return -1.0


def text_seconds(attempt: int) -> Any:
    return "soon"


def nan_seconds(attempt: int) -> float:
    return math.nan


module_level_lambda = lambda attempt: 1.0  # noqa: E731


def note_soft_timeout(context: Any) -> None:
    """A soft-timeout callback; it is never called here."""


class Backoff:
    @staticmethod
    def seconds(attempt: int) -> float:
        return 1.0


# Exponential, linear, fixed


def test_exponential_delays_double_and_stop_at_max_delay() -> None:
    policy = RetryPolicy.exponential(initial_delay=1, max_delay=20, jitter=False)

    delays = [policy.delay_for(attempt) for attempt in range(1, 8)]

    assert delays == [1.0, 2.0, 4.0, 8.0, 16.0, 20.0, 20.0]


def test_exponential_delay_stays_at_max_delay_for_huge_attempt_numbers() -> None:
    policy = RetryPolicy.exponential(max_delay=60, jitter=False)

    assert policy.delay_for(100_000) == 60.0


def test_exponential_uses_its_multiplier() -> None:
    policy = RetryPolicy.exponential(initial_delay=2, multiplier=3, max_delay=1000, jitter=False)

    assert [policy.delay_for(n) for n in (1, 2, 3)] == [2.0, 6.0, 18.0]


def test_exponential_has_full_jitter_by_default() -> None:
    assert RetryPolicy.exponential().jitter is True


def test_full_jitter_stays_between_zero_and_the_delay_and_varies() -> None:
    policy = RetryPolicy.exponential(initial_delay=8, max_delay=8, jitter=True)
    seeded = random.Random(42)

    draws = [policy.delay_for(1, random=seeded) for _ in range(1000)]

    assert all(0.0 <= draw <= 8.0 for draw in draws)
    assert len(set(draws)) > 900
    assert min(draws) < 1.0 and max(draws) > 7.0


def test_jitter_with_a_seeded_random_is_repeatable() -> None:
    policy = RetryPolicy.exponential()

    first = [policy.delay_for(n, random=random.Random(7)) for n in range(1, 6)]
    second = [policy.delay_for(n, random=random.Random(7)) for n in range(1, 6)]

    assert first == second


def test_fractional_jitter_stays_within_its_band() -> None:
    policy = RetryPolicy.fixed(10, jitter=0.25)
    seeded = random.Random(1)

    draws = [policy.delay_for(3, random=seeded) for _ in range(1000)]

    assert all(7.5 <= draw <= 10.0 for draw in draws)
    assert min(draws) < 7.6 and max(draws) > 9.9


def test_linear_delay_grows_by_delay_per_attempt_up_to_max_delay() -> None:
    policy = RetryPolicy.linear(delay=5, max_delay=12)

    assert [policy.delay_for(n) for n in (1, 2, 3, 4)] == [5.0, 10.0, 12.0, 12.0]


def test_fixed_delay_is_the_same_every_time() -> None:
    policy = RetryPolicy.fixed(7.5)

    assert {policy.delay_for(n) for n in range(1, 50)} == {7.5}


def test_zero_delay_is_allowed() -> None:
    assert RetryPolicy.fixed(0).delay_for(3) == 0.0


def test_default_policy_is_exponential_with_jitter() -> None:
    assert RetryPolicy.DEFAULT is policies.DEFAULT_RETRY_POLICY
    assert (
        RetryPolicy.exponential(initial_delay=1.0, max_delay=300.0, multiplier=2.0, jitter=True)
        == RetryPolicy.DEFAULT
    )


@pytest.mark.parametrize("attempt", [0, -1, True, 1.5, "1"])
def test_delay_for_refuses_an_attempt_number_below_one(attempt: Any) -> None:
    with pytest.raises(InvalidTaskOptions, match=f"attempt must be .* got {attempt!r}"):
        RetryPolicy.fixed(1).delay_for(attempt)


# Custom


def test_custom_calls_the_function_with_the_failed_attempt_number() -> None:
    calls.clear()
    policy = RetryPolicy.custom(square_seconds)

    assert policy.delay_for(3) == 9.0
    assert calls == [3]


@pytest.mark.parametrize(
    ("func", "shown"),
    [(negative_seconds, "-1.0"), (text_seconds, "'soon'"), (nan_seconds, "nan")],
)
def test_custom_function_returning_a_bad_delay_is_refused(func: Any, shown: str) -> None:
    policy = RetryPolicy.custom(func)

    with pytest.raises(InvalidTaskOptions) as info:
        policy.delay_for(2)

    message = str(info.value)
    assert f"tests.unit.test_policies.{func.__name__}" in message
    assert f"got {shown} for attempt 2" in message


def test_custom_refuses_a_lambda() -> None:
    with pytest.raises(InvalidTaskOptions, match="delay_for_attempt must be a function defined"):
        RetryPolicy.custom(lambda attempt: 1.0)


def test_custom_refuses_a_module_level_lambda() -> None:
    with pytest.raises(InvalidTaskOptions, match="top level of a module"):
        RetryPolicy.custom(module_level_lambda)


def test_custom_refuses_a_nested_function_naming_it() -> None:
    def backoff(attempt: int) -> float:
        return 1.0

    with pytest.raises(InvalidTaskOptions, match="backoff"):
        RetryPolicy.custom(backoff)


def test_custom_refuses_methods() -> None:
    with pytest.raises(InvalidTaskOptions, match=r"Backoff\.seconds"):
        RetryPolicy.custom(Backoff.seconds)
    with pytest.raises(InvalidTaskOptions, match=r"Backoff\.seconds"):
        RetryPolicy.custom(Backoff().seconds)


def test_custom_refuses_something_that_is_not_callable() -> None:
    with pytest.raises(InvalidTaskOptions, match="delay_for_attempt must be a function, got 5"):
        RetryPolicy(kind="custom", delay_for_attempt=5)  # type: ignore[arg-type]


# Validation


@pytest.mark.parametrize(
    ("build", "option", "shown"),
    [
        (lambda: RetryPolicy(kind="random"), "kind", "'random'"),
        (lambda: RetryPolicy.exponential(max_attempts=0), "max_attempts", "0"),
        (lambda: RetryPolicy.exponential(max_attempts=True), "max_attempts", "True"),
        (lambda: RetryPolicy.exponential(max_attempts=2.0), "max_attempts", "2.0"),  # type: ignore[arg-type]
        (lambda: RetryPolicy.exponential(initial_delay=-1), "initial_delay", "-1"),
        (lambda: RetryPolicy.exponential(initial_delay=math.nan), "initial_delay", "nan"),
        (lambda: RetryPolicy.exponential(max_delay=math.inf), "max_delay", "inf"),
        (lambda: RetryPolicy.exponential(max_delay="60"), "max_delay", "'60'"),  # type: ignore[arg-type]
        (lambda: RetryPolicy.exponential(initial_delay=10, max_delay=5), "max_delay", "5"),
        (lambda: RetryPolicy.exponential(multiplier=0.5), "multiplier", "0.5"),
        (lambda: RetryPolicy.exponential(multiplier=True), "multiplier", "True"),
        (lambda: RetryPolicy.exponential(jitter=0.0), "jitter", "0.0"),
        (lambda: RetryPolicy.exponential(jitter=1.5), "jitter", "1.5"),
        (lambda: RetryPolicy.exponential(jitter=1), "jitter", "1"),
        (lambda: RetryPolicy.exponential(jitter=math.nan), "jitter", "nan"),
        (lambda: RetryPolicy.linear(delay=-0.5), "delay", "-0.5"),
        (lambda: RetryPolicy.linear(delay=10, max_delay=5), "max_delay", "5"),
        (lambda: RetryPolicy.fixed(None), "delay", "None"),  # type: ignore[arg-type]
        (lambda: RetryPolicy(kind="fixed", multiplier=3), "multiplier", "3"),
        (lambda: RetryPolicy(kind="linear", initial_delay=2), "initial_delay", "2"),
        (lambda: RetryPolicy(kind="custom"), "delay_for_attempt", "None"),
        (
            lambda: RetryPolicy(kind="fixed", delay_for_attempt=square_seconds),
            "delay_for_attempt",
            "<function square_seconds",
        ),
    ],
)
def test_bad_argument_is_refused_naming_the_option_and_value(
    build: Any, option: str, shown: str
) -> None:
    with pytest.raises(InvalidTaskOptions) as info:
        build()

    message = str(info.value)
    assert message.startswith(option)
    assert f"got {shown}" in message


def test_invalid_options_is_a_taskflow_error_and_a_value_error() -> None:
    with pytest.raises(InvalidTaskOptions) as info:
        RetryPolicy.fixed(-1)

    assert isinstance(info.value, TaskflowError)
    assert isinstance(info.value, ValueError)


def test_policies_are_frozen() -> None:
    policy = RetryPolicy.fixed(1)

    with pytest.raises(AttributeError):
        policy.delay = 2  # type: ignore[misc]


# JSON


@pytest.mark.parametrize(
    "policy",
    [
        RetryPolicy.exponential(max_attempts=5, initial_delay=0.5, max_delay=30, multiplier=3),
        RetryPolicy.exponential(jitter=0.3),
        RetryPolicy.linear(max_attempts=3, delay=2, max_delay=10, jitter=True),
        RetryPolicy.fixed(4, max_attempts=2, jitter=0.5),
        RetryPolicy.custom(square_seconds, max_attempts=9),
    ],
    ids=["exponential", "exponential-fraction", "linear", "fixed", "custom"],
)
def test_to_json_and_from_json_round_trip(policy: RetryPolicy) -> None:
    data = policy.to_json()

    assert RetryPolicy.from_json(data) == policy


def test_to_json_stores_only_the_fields_of_the_kind() -> None:
    assert RetryPolicy.fixed(4).to_json() == {
        "kind": "fixed",
        "max_attempts": None,
        "delay": 4,
        "jitter": False,
    }


def test_custom_to_json_stores_the_function_import_path() -> None:
    assert RetryPolicy.custom(square_seconds).to_json() == {
        "kind": "custom",
        "max_attempts": None,
        "path": "tests.unit.test_policies.square_seconds",
    }


def test_from_json_fills_in_the_constructor_defaults() -> None:
    assert RetryPolicy.from_json({"kind": "exponential"}) == RetryPolicy.exponential()


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (["exponential"], "must be a dict, got ['exponential']"),
        ({}, "kind must be one of custom, exponential, fixed, linear, got None"),
        ({"kind": ["fixed"]}, "got ['fixed']"),
        ({"kind": "fixed"}, "a fixed retry policy needs the key delay"),
        (
            {"kind": "fixed", "delay": 1, "multiplier": 2},
            "a fixed retry policy has no key multiplier",
        ),
        ({"kind": "custom"}, "a custom retry policy needs the key path"),
        ({"kind": "custom", "path": 3}, "path must be a str, got 3"),
        (
            {"kind": "custom", "path": "tests.unit.nowhere.f"},
            "'tests.unit.nowhere.f' does not import",
        ),
        ({"kind": "linear", "delay": -2}, "delay must be a finite number of at least 0, got -2"),
    ],
)
def test_from_json_refuses_bad_input_saying_what_is_wrong(data: Any, expected: str) -> None:
    with pytest.raises(InvalidTaskOptions) as info:
        RetryPolicy.from_json(data)

    assert expected in str(info.value)


# coerce_policy


def test_coerce_policy_accepts_a_policy_a_dict_or_none() -> None:
    policy = RetryPolicy.linear()

    assert coerce_policy(policy, setting=SETTING) is policy
    assert coerce_policy(policy.to_json(), setting=SETTING) == policy
    assert coerce_policy(None, setting=SETTING) is None


@pytest.mark.parametrize("value", ["exponential", 5, [{"kind": "fixed", "delay": 1}]])
def test_coerce_policy_refuses_other_types_naming_the_setting(value: Any) -> None:
    with pytest.raises(InvalidTaskOptions) as info:
        coerce_policy(value, setting=SETTING)

    message = str(info.value)
    assert message.startswith(f"{SETTING} must be a RetryPolicy")
    assert f"got {value!r}" in message


def test_coerce_policy_refuses_a_bad_dict_naming_the_setting_and_the_problem() -> None:
    with pytest.raises(InvalidTaskOptions) as info:
        coerce_policy({"kind": "fixed", "delay": math.inf}, setting=SETTING)

    assert str(info.value) == f"{SETTING}: delay must be a finite number of at least 0, got inf"


# Timeout


def test_timeout_defaults_are_the_moderate_preset() -> None:
    assert Timeout() == Timeout.MODERATE
    assert (Timeout().soft, Timeout().hard) == (300, 600)


def test_timeout_presets_have_the_documented_values() -> None:
    assert (Timeout.QUICK.soft, Timeout.QUICK.hard) == (10, 30)
    assert (Timeout.MODERATE.soft, Timeout.MODERATE.hard) == (300, 600)
    assert (Timeout.EXTENDED.soft, Timeout.EXTENDED.hard) == (3600, 7200)
    assert Timeout.QUICK is timeouts.QUICK


def test_retry_policy_max_attempts_is_bounded_by_what_the_column_holds() -> None:
    assert RetryPolicy.fixed(1, max_attempts=2_147_483_647).max_attempts == 2_147_483_647
    with pytest.raises(InvalidTaskOptions, match="from 1 to 2,147,483,647, got 1000000000000"):
        RetryPolicy.fixed(1, max_attempts=10**12)


def test_timeout_may_have_only_a_soft_or_only_a_hard_limit() -> None:
    assert Timeout(soft=None, hard=5).to_json() == {"soft": None, "hard": 5}
    assert Timeout(soft=5, hard=None).to_json() == {"soft": 5, "hard": None}


def test_timeout_refuses_a_soft_limit_not_shorter_than_the_hard_one() -> None:
    with pytest.raises(
        InvalidTaskOptions,
        match=r"soft timeout \(60 s\) must be shorter than the hard timeout \(60 s\)",
    ):
        Timeout(soft=60, hard=60)


def test_a_copy_that_lowers_the_hard_limit_below_the_soft_one_says_what_to_write() -> None:
    with pytest.raises(InvalidTaskOptions) as info:
        replace(Timeout.QUICK, hard=5)  # QUICK's soft limit is 10 s

    assert str(info.value) == (
        "soft timeout (10 s) must be shorter than the hard timeout (5 s): give both, "
        "e.g. Timeout(soft=2.5, hard=5), or soft=None for no soft limit"
    )


@pytest.mark.parametrize(
    ("given", "soft", "hard"),
    [
        ({"hard": 60}, 30, 60),
        ({"hard": 1}, 0.5, 1),
        ({"hard": 600}, 300, 600),
        ({"hard": 900}, 300, 900),
        ({"hard": None}, 300, None),
        ({"soft": 30}, 30, 600),
        ({"soft": 900}, 900, 1800),
        ({"soft": None}, None, 600),
    ],
)
def test_timeout_derives_a_left_out_limit_from_the_given_one(
    given: dict[str, Any], soft: float | None, hard: float | None
) -> None:
    timeout = Timeout(**given)

    assert (timeout.soft, timeout.hard) == (soft, hard)
    assert timeout == Timeout(soft=soft, hard=hard)
    assert Timeout.from_json(given) == timeout


def test_timeout_refuses_no_limit_at_all() -> None:
    with pytest.raises(InvalidTaskOptions, match="needs soft, hard or both"):
        Timeout(soft=None, hard=None)


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("soft", math.inf),
        ("hard", math.nan),
        ("soft", 0),
        ("hard", -5),
        ("soft", True),
        ("hard", "1"),
        pytest.param("hard", 10**400, id="hard-too-large-for-a-float"),
    ],
)
def test_timeout_refuses_a_limit_that_is_not_a_positive_finite_number(
    option: str, value: Any
) -> None:
    limits: dict[str, Any] = {"soft": None, "hard": None, option: value}

    with pytest.raises(InvalidTaskOptions) as info:
        Timeout(**limits)

    message = str(info.value)
    assert message.startswith(option)
    assert f"got {value!r}" in message


def test_timeout_refuses_a_callback_that_is_not_callable() -> None:
    with pytest.raises(InvalidTaskOptions, match="on_soft_timeout must be None or a function"):
        Timeout(on_soft_timeout="log")  # type: ignore[arg-type]


def test_timeout_json_round_trip_leaves_out_the_callback() -> None:
    timeout = Timeout(soft=1.5, hard=9, on_soft_timeout=note_soft_timeout)

    data = timeout.to_json()

    assert data == {"soft": 1.5, "hard": 9}
    assert Timeout.from_json(data) == Timeout(soft=1.5, hard=9)


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ("quick", "a timeout must be a dict, got 'quick'"),
        ({"soft": 1, "limit": 2}, "a timeout has no key limit"),
        ({"soft": 10, "hard": 5}, "soft timeout (10 s) must be shorter"),
    ],
)
def test_timeout_from_json_refuses_bad_input(data: Any, expected: str) -> None:
    with pytest.raises(InvalidTaskOptions) as info:
        Timeout.from_json(data)

    assert expected in str(info.value)


def test_delay_after_falls_back_to_the_default_when_a_stored_policy_breaks(
    caplog: pytest.LogCaptureFixture,
) -> None:
    from django_taskflow.policies import delay_after

    broken = {"kind": "custom", "path": "tests.unit.renamed_long_ago.delay"}
    with caplog.at_level("ERROR", logger="django_taskflow.policies"):
        delay = delay_after(broken, 3)
    assert 0 <= delay <= 4  # the default: exponential from 1 s, full jitter
    assert "retry policy" in caplog.text


def test_delay_after_an_empty_policy_is_the_default() -> None:
    from django_taskflow.policies import delay_after

    assert 0 <= delay_after({}, 1) <= 1
