"""The backend's OPTIONS: defaults, validation and messages that name the setting."""

from __future__ import annotations

from typing import Any

import pytest
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.tasks import task_backends
from django.test import override_settings

from django_taskflow import conf
from django_taskflow.exceptions import ConfigurationError, TaskflowError

NUMERIC_OPTIONS = [
    "LEASE_SECONDS",
    "POLL_INTERVAL",
    "MAX_ATTEMPTS",
    "RETRY_DELAY",
    "BATCH_SIZE",
    "MAX_PAYLOAD_BYTES",
    "SHUTDOWN_GRACE_SECONDS",
]


def test_empty_options_give_the_documented_defaults() -> None:
    options = conf.parse_options("default", {})

    assert options.database == "default"
    assert options.lease_seconds == 30.0
    assert options.poll_interval == 1.0
    assert options.max_attempts == 1
    assert options.retry_delay == 5.0
    assert options.batch_size == 50
    assert options.max_payload_bytes == 1_000_000
    assert options.shutdown_grace_seconds == 30.0


def test_given_options_replace_the_defaults() -> None:
    options = conf.parse_options(
        "default",
        {
            "DATABASE": "default",
            "LEASE_SECONDS": 12,
            "POLL_INTERVAL": 0.25,
            "MAX_ATTEMPTS": 4,
            "RETRY_DELAY": 0,
            "BATCH_SIZE": 10,
            "MAX_PAYLOAD_BYTES": 2048,
            "SHUTDOWN_GRACE_SECONDS": 0,
        },
    )

    assert options == conf.Options(
        database="default",
        lease_seconds=12,
        poll_interval=0.25,
        max_attempts=4,
        retry_delay=0,
        batch_size=10,
        max_payload_bytes=2048,
        shutdown_grace_seconds=0,
    )


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("LEASE_SECONDS", 0, "a finite number greater than 0"),
        ("LEASE_SECONDS", -5, "a finite number greater than 0"),
        ("LEASE_SECONDS", "30", "a finite number greater than 0"),
        ("POLL_INTERVAL", 0, "a finite number greater than 0"),
        ("POLL_INTERVAL", None, "a finite number greater than 0"),
        ("MAX_ATTEMPTS", 0, "a whole number of at least 1"),
        ("MAX_ATTEMPTS", 2.5, "a whole number of at least 1"),
        ("RETRY_DELAY", -1, "a finite number of at least 0"),
        ("RETRY_DELAY", "5", "a finite number of at least 0"),
        ("BATCH_SIZE", 0, "a whole number of at least 1"),
        ("BATCH_SIZE", 10.0, "a whole number of at least 1"),
        ("MAX_PAYLOAD_BYTES", -1, "a whole number of at least 1"),
        ("MAX_PAYLOAD_BYTES", "1MB", "a whole number of at least 1"),
        ("SHUTDOWN_GRACE_SECONDS", -0.5, "a finite number of at least 0"),
        ("DATABASE", "missing", "the alias of a database in DATABASES"),
        ("DATABASE", None, "the alias of a database in DATABASES"),
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


@pytest.mark.parametrize("name", ["RETRY_DELAY", "SHUTDOWN_GRACE_SECONDS"])
def test_zero_is_allowed_where_the_option_may_be_zero(name: str) -> None:
    assert conf.find_problems("default", {name: 0}) == []


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("LEASE_SECONDS", float("nan")),
        ("LEASE_SECONDS", float("inf")),
        ("POLL_INTERVAL", float("nan")),
        ("RETRY_DELAY", float("nan")),
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
    for known in [*NUMERIC_OPTIONS, "DATABASE"]:
        assert known in problem.message


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
