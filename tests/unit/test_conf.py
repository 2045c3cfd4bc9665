"""The backend's OPTIONS: defaults, validation and messages that name the setting."""

from __future__ import annotations

from typing import Any

import pytest
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.tasks import task_backends
from django.test import override_settings

from django_taskflow import conf
from django_taskflow.encoding.keys import EncryptionKey
from django_taskflow.exceptions import ConfigurationError, TaskflowError
from django_taskflow.policies import RetryPolicy
from django_taskflow.timeouts import Timeout

NUMERIC_OPTIONS = [
    "LEASE_SECONDS",
    "POLL_INTERVAL",
    "MAX_ATTEMPTS",
    "BATCH_SIZE",
    "MAX_PAYLOAD_BYTES",
    "SHUTDOWN_GRACE_SECONDS",
    "MAX_LOST_ATTEMPTS",
    "CANCEL_GRACE_SECONDS",
]


def test_empty_options_give_the_documented_defaults() -> None:
    options = conf.parse_options("default", {})

    assert options.database == "default"
    assert options.lease_seconds == 30.0
    assert options.poll_interval == 1.0
    assert options.max_attempts == 1
    assert options.retry_policy is None
    assert options.default_timeout is None
    assert options.middleware == ()
    assert options.batch_size == 50
    assert options.max_payload_bytes == 1_000_000
    assert options.shutdown_grace_seconds == 30.0
    assert options.max_lost_attempts == 3
    assert options.cancel_grace_seconds == 10.0


def test_given_options_replace_the_defaults() -> None:
    options = conf.parse_options(
        "default",
        {
            "DATABASE": "default",
            "LEASE_SECONDS": 12,
            "POLL_INTERVAL": 0.25,
            "MAX_ATTEMPTS": 4,
            "RETRY_POLICY": RetryPolicy.fixed(2),
            "DEFAULT_TIMEOUT": Timeout.QUICK,
            "MIDDLEWARE": ["django_taskflow.contrib.middleware.LoggingMiddleware"],
            "BATCH_SIZE": 10,
            "MAX_PAYLOAD_BYTES": 2048,
            "SHUTDOWN_GRACE_SECONDS": 0,
            "MAX_LOST_ATTEMPTS": 5,
            "CANCEL_GRACE_SECONDS": 2.5,
            "ENCRYPTION_KEYS": [
                {"id": "k9", "key": "OTk5OTk5OTk5OTk5OTk5OTk5OTk5OTk5OTk5OTk5OTk="}
            ],
        },
    )

    assert options == conf.Options(
        database="default",
        lease_seconds=12,
        poll_interval=0.25,
        max_attempts=4,
        retry_policy=RetryPolicy.fixed(2),
        default_timeout=Timeout.QUICK,
        middleware=("django_taskflow.contrib.middleware.LoggingMiddleware",),
        batch_size=10,
        max_payload_bytes=2048,
        shutdown_grace_seconds=0,
        max_lost_attempts=5,
        cancel_grace_seconds=2.5,
        encryption_keys=(EncryptionKey(id="k9", secret=b"9" * 32),),
    )


def test_encryption_keys_come_from_the_environment_when_options_lack_them(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(
        "TASKFLOW_ENCRYPTION_KEYS",
        '[{"id": "env", "key": "OTk5OTk5OTk5OTk5OTk5OTk5OTk5OTk5OTk5OTk5OTk="}]',
    )

    assert conf.parse_options("default", {}).encryption_keys == (
        EncryptionKey(id="env", secret=b"9" * 32),
    )
    assert conf.parse_options("default", {"ENCRYPTION_KEYS": []}).encryption_keys == ()


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("LEASE_SECONDS", 0, "a finite number greater than 0"),
        ("LEASE_SECONDS", -5, "a finite number greater than 0"),
        ("LEASE_SECONDS", "30", "a finite number greater than 0"),
        ("POLL_INTERVAL", 0, "a finite number greater than 0"),
        ("POLL_INTERVAL", None, "a finite number greater than 0"),
        ("MAX_ATTEMPTS", 0, "a whole number from 1 to 2,147,483,647"),
        ("MAX_ATTEMPTS", 2.5, "a whole number from 1 to 2,147,483,647"),
        ("MAX_ATTEMPTS", 10**12, "a whole number from 1 to 2,147,483,647"),
        ("DEFAULT_TIMEOUT", 30, "None, a Timeout or a dict with soft and hard seconds"),
        ("MIDDLEWARE", "app.middleware.Timing", "a list of dotted paths to middleware"),
        ("MIDDLEWARE", ["Timing"], "a list of dotted paths to middleware"),
        ("MIDDLEWARE", [42], "a list of dotted paths to middleware"),
        ("MIDDLEWARE", None, "a list of dotted paths to middleware"),
        ("BATCH_SIZE", 0, "a whole number of at least 1"),
        ("BATCH_SIZE", 10.0, "a whole number of at least 1"),
        ("MAX_PAYLOAD_BYTES", -1, "a whole number of at least 1"),
        ("MAX_PAYLOAD_BYTES", "1MB", "a whole number of at least 1"),
        ("SHUTDOWN_GRACE_SECONDS", -0.5, "a finite number of at least 0"),
        ("MAX_LOST_ATTEMPTS", 0, "a whole number of at least 1"),
        ("CANCEL_GRACE_SECONDS", -1, "a finite number of at least 0"),
        ("CANCEL_GRACE_SECONDS", "10", "a finite number of at least 0"),
        ("MAX_LOST_ATTEMPTS", True, "a whole number of at least 1"),
        ("DATABASE", "missing", "the alias of a database in DATABASES"),
        ("DATABASE", None, "the alias of a database in DATABASES"),
        ("API_MAX_BODY_BYTES", 0, "a whole number of at least 1"),
        ("API_MAX_BODY_BYTES", "64KB", "a whole number of at least 1"),
        (
            "API_PERMISSION_CLASSES",
            [],
            "a non-empty list of dotted paths to DRF permission classes",
        ),
        (
            "API_PERMISSION_CLASSES",
            "rest_framework.permissions.IsAdminUser",
            "a non-empty list of dotted paths to DRF permission classes",
        ),
    ],
)
def test_bad_value_is_reported_naming_the_setting_and_the_value(
    name: str, value: Any, expected: str
) -> None:
    [problem] = conf.find_problems("default", {name: value})

    setting = f"TASKS['default']['OPTIONS'][{name!r}]"
    assert problem.setting == setting
    assert problem.message == f"{setting} must be {expected}, got {value!r}."
    assert not problem.unknown


@pytest.mark.parametrize("name", NUMERIC_OPTIONS)
def test_booleans_are_refused_as_numbers(name: str) -> None:
    [problem] = conf.find_problems("default", {name: True})

    assert problem.message.endswith("got True.")


def test_zero_is_allowed_where_the_option_may_be_zero() -> None:
    assert conf.find_problems("default", {"SHUTDOWN_GRACE_SECONDS": 0}) == []


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("LEASE_SECONDS", float("nan")),
        ("LEASE_SECONDS", float("inf")),
        pytest.param("LEASE_SECONDS", 10**400, id="LEASE_SECONDS-too-large-for-a-float"),
        ("POLL_INTERVAL", float("nan")),
        ("SHUTDOWN_GRACE_SECONDS", float("nan")),
    ],
)
def test_non_finite_numbers_are_refused(name: str, value: float) -> None:
    assert len(conf.find_problems("default", {name: value})) == 1


def test_unknown_option_is_reported_with_the_known_options() -> None:
    [problem] = conf.find_problems("default", {"LEASE_SECOND": 10})

    assert problem.unknown
    assert problem.setting == "TASKS['default']['OPTIONS']['LEASE_SECOND']"
    assert problem.message.startswith(
        "TASKS['default']['OPTIONS']['LEASE_SECOND'] is not an option (known: "
    )
    for known in [*NUMERIC_OPTIONS, "DATABASE", "RETRY_POLICY", "DEFAULT_TIMEOUT", "MIDDLEWARE"]:
        assert known in problem.message


def test_removed_retry_delay_is_reported_as_unknown() -> None:
    [problem] = conf.find_problems("default", {"RETRY_DELAY": 5})

    assert problem.unknown
    assert problem.setting == "TASKS['default']['OPTIONS']['RETRY_DELAY']"
    assert "RETRY_POLICY" in problem.message


# RETRY_POLICY


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("fast", "must be a RetryPolicy, a dict such as"),
        (5, "must be a RetryPolicy, a dict such as"),
        ({"kind": "sometimes"}, "kind must be one of custom, exponential, fixed, linear"),
        ({"kind": "fixed"}, "a fixed retry policy needs the key delay"),
        ({"kind": "fixed", "delay": 1, "colour": "red"}, "has no key colour"),
        ({"kind": "exponential", "max_delay": -1}, "max_delay must be a finite number"),
        ({"kind": "custom", "path": "tests.unit.nowhere.delay"}, "does not import"),
    ],
)
def test_bad_retry_policy_is_reported_with_the_reason(value: Any, reason: str) -> None:
    [problem] = conf.find_problems("default", {"RETRY_POLICY": value})

    setting = "TASKS['default']['OPTIONS']['RETRY_POLICY']"
    assert problem.setting == setting
    assert problem.message.startswith(f"{setting} must be a ")
    assert reason in problem.message
    assert problem.message.endswith(f"got {value!r}.")
    assert problem.message.count(repr(value)) == 1  # the value is named once


def test_retry_policy_given_as_a_policy_is_kept() -> None:
    policy = RetryPolicy.linear(delay=2, max_delay=20)

    assert conf.parse_options("default", {"RETRY_POLICY": policy}).retry_policy is policy


def test_retry_policy_dict_is_parsed_into_a_retry_policy() -> None:
    options = conf.parse_options(
        "default", {"RETRY_POLICY": {"kind": "exponential", "max_delay": 60, "jitter": False}}
    )

    assert options.retry_policy == RetryPolicy.exponential(max_delay=60, jitter=False)


def test_retry_policy_to_json_round_trips_through_the_setting() -> None:
    policy = RetryPolicy.fixed(3, max_attempts=4)

    assert conf.parse_options("default", {"RETRY_POLICY": policy.to_json()}).retry_policy == policy


def test_retry_policy_none_leaves_the_default_backoff() -> None:
    assert conf.parse_options("default", {"RETRY_POLICY": None}).retry_policy is None


# DEFAULT_TIMEOUT


def test_default_timeout_dict_is_parsed_into_a_timeout() -> None:
    options = conf.parse_options("default", {"DEFAULT_TIMEOUT": {"soft": 10, "hard": 20}})

    assert options.default_timeout == Timeout(soft=10, hard=20)


def test_default_timeout_dict_may_leave_out_a_limit() -> None:
    options = conf.parse_options("default", {"DEFAULT_TIMEOUT": {"soft": None, "hard": 60}})

    assert options.default_timeout == Timeout(soft=None, hard=60)


def test_default_timeout_given_as_a_timeout_is_kept() -> None:
    options = conf.parse_options("default", {"DEFAULT_TIMEOUT": Timeout.EXTENDED})

    assert options.default_timeout is Timeout.EXTENDED


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ({"soft": 10, "hard": 5}, "must be shorter than the hard timeout"),
        ({"soft": 1, "grace": 5}, "a timeout has no key grace"),
        ({"soft": None, "hard": None}, "got neither"),
        ({"hard": -1}, "hard must be None or a finite number of seconds greater than 0"),
    ],
)
def test_bad_default_timeout_dict_is_reported_with_the_reason(value: Any, reason: str) -> None:
    [problem] = conf.find_problems("default", {"DEFAULT_TIMEOUT": value})

    setting = "TASKS['default']['OPTIONS']['DEFAULT_TIMEOUT']"
    assert problem.message.startswith(
        f"{setting} must be None, a Timeout or a dict with soft and hard seconds ("
    )
    assert reason in problem.message
    assert problem.message.endswith(f"got {value!r}.")


# MIDDLEWARE


def test_middleware_list_is_kept_in_order_as_a_tuple() -> None:
    paths = [
        "django_taskflow.contrib.middleware.MetricsMiddleware",
        "django_taskflow.contrib.middleware.LoggingMiddleware",
    ]

    assert conf.parse_options("default", {"MIDDLEWARE": paths}).middleware == tuple(paths)


def test_empty_middleware_list_is_allowed() -> None:
    assert conf.parse_options("default", {"MIDDLEWARE": []}).middleware == ()


def test_every_problem_is_reported_at_once() -> None:
    problems = conf.find_problems("default", {"LEASE_SECONDS": 0, "COLOUR": "red", "BATCH_SIZE": 0})

    assert [problem.setting for problem in problems] == [
        "TASKS['default']['OPTIONS']['LEASE_SECONDS']",
        "TASKS['default']['OPTIONS']['COLOUR']",
        "TASKS['default']['OPTIONS']['BATCH_SIZE']",
    ]


def test_the_setting_names_the_backend_alias() -> None:
    [problem] = conf.find_problems("reports", {"BATCH_SIZE": 0})

    assert problem.setting == "TASKS['reports']['OPTIONS']['BATCH_SIZE']"


def test_parse_options_raises_configuration_error_naming_the_setting_and_value() -> None:
    with pytest.raises(ConfigurationError) as info:
        conf.parse_options("default", {"LEASE_SECONDS": -3})

    assert "TASKS['default']['OPTIONS']['LEASE_SECONDS']" in str(info.value)
    assert "got -3" in str(info.value)


def test_parse_options_reports_all_problems_in_one_error() -> None:
    with pytest.raises(ConfigurationError) as info:
        conf.parse_options("default", {"LEASE_SECONDS": 0, "NOPE": 1})

    assert "['LEASE_SECONDS']" in str(info.value)
    assert "['NOPE'] is not an option" in str(info.value)


def test_configuration_error_is_improperly_configured() -> None:
    with pytest.raises(ImproperlyConfigured):
        conf.parse_options("default", {"MAX_ATTEMPTS": 0})


def test_configuration_error_is_a_taskflow_error() -> None:
    with pytest.raises(TaskflowError):
        conf.parse_options("default", {"MAX_ATTEMPTS": 0})


@pytest.mark.parametrize(("lease", "heartbeat"), [(30.0, 10.0), (9, 3.0), (1.5, 0.5)])
def test_heartbeat_is_a_third_of_the_lease(lease: float, heartbeat: float) -> None:
    assert conf.Options(lease_seconds=lease).heartbeat_seconds == pytest.approx(heartbeat)


def test_override_settings_reaches_the_backend_options() -> None:
    before = task_backends["default"].config.lease_seconds
    tasks = {
        "default": {
            **settings.TASKS["default"],
            "OPTIONS": {"LEASE_SECONDS": before + 12},
        }
    }

    with override_settings(TASKS=tasks):
        assert task_backends["default"].config.lease_seconds == before + 12

    assert task_backends["default"].config.lease_seconds == before
