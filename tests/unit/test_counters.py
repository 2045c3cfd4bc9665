"""Duration buckets of the counters, and the METRICS_TOKEN option."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import pytest

from django_taskflow import conf, counters
from django_taskflow.exceptions import ConfigurationError

START = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    ("seconds", "bucket"),
    [(0.0, 0.005), (0.005, 0.005), (0.0051, 0.01), (0.3, 0.5), (3600, 3600.0), (3601, math.inf)],
)
def test_an_attempt_falls_in_the_first_bucket_at_least_as_long(
    seconds: float, bucket: float
) -> None:
    assert counters.timing(START, START + timedelta(seconds=seconds)) == (bucket, seconds)


def test_a_clock_step_backwards_counts_as_no_time() -> None:
    assert counters.timing(START, START - timedelta(seconds=1)) == (0.005, 0.0)


def test_the_metrics_token_is_off_by_default_and_kept_out_of_reprs() -> None:
    assert conf.parse_options("default", {}).metrics_token is None
    options = conf.parse_options("default", {"METRICS_TOKEN": "a" * 16})
    assert options.metrics_token == "a" * 16
    assert "aaaa" not in repr(options)


@pytest.mark.parametrize("token", ["", "short", 1234567890123456789, b"b" * 20])
def test_a_short_or_non_text_metrics_token_is_refused_naming_the_setting(token: object) -> None:
    with pytest.raises(ConfigurationError, match=r"\['METRICS_TOKEN'\] must be None or a string"):
        conf.parse_options("default", {"METRICS_TOKEN": token})
