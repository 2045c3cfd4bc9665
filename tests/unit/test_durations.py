"""Durations as operators write them (RETENTION, --older-than, --since)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from django_taskflow import conf
from django_taskflow.durations import format_duration, parse_duration


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("30d", timedelta(days=30)),
        ("12h", timedelta(hours=12)),
        ("15m", timedelta(minutes=15)),
        ("45s", timedelta(seconds=45)),
        ("2w", timedelta(weeks=2)),
        ("1h30m", timedelta(minutes=90)),
        (" 7D ", timedelta(days=7)),
    ],
)
def test_a_duration_reads_as_written(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", "30", "d", "30x", "-5m", "1.5h", "0s", "5m garbage", "m5"])
def test_a_bad_duration_is_refused_naming_it(text: str) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(text)


def test_a_duration_prints_back_exactly() -> None:
    assert format_duration(timedelta(hours=36)) == "1d12h"
    assert format_duration(parse_duration("1h30m")) == "1h30m"


def test_retention_is_parsed_into_durations_by_status() -> None:
    options = conf.parse_options("default", {"RETENTION": {"succeeded": "7d", "failed": "30d"}})
    assert options.retention == {"succeeded": timedelta(days=7), "failed": timedelta(days=30)}
    assert conf.parse_options("default", {}).retention == {}


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ({"succeeded": "7 days"}, "is not a duration"),
        ({"queued": "7d"}, "'queued' is not a finished status"),
        ({"failed": 30}, "must be text"),
        (["succeeded"], "a dict of finished statuses"),
    ],
)
def test_a_bad_retention_names_the_setting_and_why(value: object, reason: str) -> None:
    [problem] = conf.find_problems("default", {"RETENTION": value})
    assert problem.setting == "TASKS['default']['OPTIONS']['RETENTION']"
    assert reason in problem.message


@pytest.mark.parametrize("value", [0, -1, "300", True, float("nan")])
def test_a_bad_health_max_ready_age_is_reported(value: object) -> None:
    [problem] = conf.find_problems("default", {"HEALTH_MAX_READY_AGE_SECONDS": value})
    assert "a finite number greater than 0" in problem.message
