"""Cron builders: the expression they give, the times it means, and bad input."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest

from django_taskflow import InvalidSchedule, cron
from django_taskflow.scheduling import Timing


@pytest.mark.parametrize(
    ("builder", "expression", "words"),
    [
        (cron.every_n_minutes(15), "*/15 * * * *", "every 15 minutes"),
        (cron.every_n_minutes(1), "* * * * *", "every minute"),
        (cron.every_n_hours(6), "0 */6 * * *", "every 6 hours at minute 0"),
        (cron.daily_at(9, 30), "30 9 * * *", "every day at 09:30"),
        (
            cron.on_days_at(["MON", "wed", "Friday"], 14, 0),
            "0 14 * * 1,3,5",
            "Monday, Wednesday and Friday at 14:00",
        ),
        (cron.weekdays_at(9), "0 9 * * 1-5", "Monday to Friday at 09:00"),
        (cron.weekend_at(10), "0 10 * * 0,6", "Saturday and Sunday at 10:00"),
        (cron.monthly_at(day=1, hour=0), "0 0 1 * *", "on day 1 of every month at 00:00"),
        (
            cron.expression("0 9-17 * * 1-5"),
            "0 9-17 * * 1-5",
            "Monday to Friday, every hour from 09:00 to 17:00",
        ),
        (cron.expression("15 3 1,15 * *"), "15 3 1,15 * *", "on days 1,15 of every month at 03:15"),
        (cron.expression("0 0 1 1 *"), "0 0 1 1 *", "on day 1 of January at 00:00"),
        (cron.expression("5 4 * 6 *"), "5 4 * 6 *", "every day in June at 04:05"),
        (cron.expression("0 8,12 * * *"), "0 8,12 * * *", "every day at 08:00 and 12:00"),
    ],
)
def test_builders_give_their_expression_and_read_as_words(
    builder: cron.CronExpression, expression: str, words: str
) -> None:
    assert str(builder) == expression
    assert builder.describe() == words


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)  # type: ignore[misc]


def next_times(expression: str, zone: str, after: datetime, count: int) -> list[str]:
    timing = Timing(cron=expression, timezone=zone)
    return [moment.isoformat() for moment in timing.upcoming(after, count)]


@pytest.mark.parametrize(
    ("zone", "after", "expected"),
    [
        # A fixed clock; 09:30 local is 09:30, 08:30, 13:30 and 00:30 UTC (winter).
        ("UTC", utc(2026, 1, 5, 12), ["2026-01-06T09:30:00+00:00", "2026-01-07T09:30:00+00:00"]),
        (
            "Europe/Paris",
            utc(2026, 1, 5, 12),
            ["2026-01-06T08:30:00+00:00", "2026-01-07T08:30:00+00:00"],
        ),
        (
            "America/New_York",
            utc(2026, 1, 5, 12),
            ["2026-01-05T14:30:00+00:00", "2026-01-06T14:30:00+00:00"],
        ),
        (
            "Asia/Kolkata",
            utc(2026, 1, 5, 12),
            ["2026-01-06T04:00:00+00:00", "2026-01-07T04:00:00+00:00"],
        ),
    ],
)
def test_daily_time_is_the_wall_clock_of_the_schedules_time_zone(
    zone: str, after: datetime, expected: list[str]
) -> None:
    assert next_times(str(cron.daily_at(9, 30)), zone, after, 2) == expected


@pytest.mark.parametrize(
    ("zone", "after", "expected"),
    [
        # Paris springs forward on 2026-03-29 at 02:00 (to 03:00): 09:30 moves from
        # 08:30 to 07:30 UTC, one run each day.
        (
            "Europe/Paris",
            utc(2026, 3, 27, 12),
            ["2026-03-28T08:30:00+00:00", "2026-03-29T07:30:00+00:00", "2026-03-30T07:30:00+00:00"],
        ),
        # New York springs forward on 2026-03-08.
        (
            "America/New_York",
            utc(2026, 3, 6, 18),
            ["2026-03-07T14:30:00+00:00", "2026-03-08T13:30:00+00:00", "2026-03-09T13:30:00+00:00"],
        ),
        # Paris falls back on 2026-10-25 at 03:00 (to 02:00).
        (
            "Europe/Paris",
            utc(2026, 10, 23, 12),
            ["2026-10-24T07:30:00+00:00", "2026-10-25T08:30:00+00:00", "2026-10-26T08:30:00+00:00"],
        ),
        # Sydney's spring is in October, its autumn in April.
        (
            "Australia/Sydney",
            utc(2026, 10, 2, 12),
            ["2026-10-02T23:30:00+00:00", "2026-10-03T22:30:00+00:00", "2026-10-04T22:30:00+00:00"],
        ),
    ],
)
def test_a_daily_run_is_neither_skipped_nor_doubled_by_a_dst_change(
    zone: str, after: datetime, expected: list[str]
) -> None:
    assert next_times("30 9 * * *", zone, after, 3) == expected


def test_a_time_skipped_by_the_spring_change_runs_at_the_first_instant_after_it() -> None:
    # 02:30 does not exist in Paris on 2026-03-29: it runs at 03:00 CEST (01:00 UTC).
    assert next_times("30 2 * * *", "Europe/Paris", utc(2026, 3, 28, 12), 2) == [
        "2026-03-29T01:00:00+00:00",
        "2026-03-30T00:30:00+00:00",
    ]
    # New York: 02:30 on 2026-03-08 runs at 03:00 EDT (07:00 UTC).
    assert next_times("30 2 * * *", "America/New_York", utc(2026, 3, 7, 12), 2) == [
        "2026-03-08T07:00:00+00:00",
        "2026-03-09T06:30:00+00:00",
    ]


def test_a_time_that_exists_twice_in_autumn_runs_once() -> None:
    # 02:30 happens twice in Paris on 2026-10-25 (00:30 and 01:30 UTC): one run.
    assert next_times("30 2 * * *", "Europe/Paris", utc(2026, 10, 24, 12), 2) == [
        "2026-10-25T00:30:00+00:00",
        "2026-10-26T01:30:00+00:00",
    ]
    # Half-hourly runs through the repeated hour fire once per wall time.
    times = next_times("*/30 * * * *", "Europe/Paris", utc(2026, 10, 24, 23, 50), 5)
    assert times == [
        "2026-10-25T00:00:00+00:00",  # 02:00 CEST
        "2026-10-25T00:30:00+00:00",  # 02:30 CEST
        "2026-10-25T02:00:00+00:00",  # 03:00 CET (02:00 and 02:30 CET ran already)
        "2026-10-25T02:30:00+00:00",
        "2026-10-25T03:00:00+00:00",
    ]


def test_intervals_count_elapsed_time_across_a_dst_change() -> None:
    from datetime import timedelta

    timing = Timing(every=timedelta(hours=1), timezone="Europe/Paris")
    anchor = utc(2026, 3, 29, 0)
    times = timing.upcoming(anchor, 3, anchor)
    assert [t.isoformat() for t in times] == [
        "2026-03-29T01:00:00+00:00",
        "2026-03-29T02:00:00+00:00",
        "2026-03-29T03:00:00+00:00",
    ]


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: cron.every_n_minutes(0), "every_n_minutes(n) must be a whole number from 1 to 59"),
        (lambda: cron.every_n_minutes(60), "from 1 to 59, got 60"),
        (lambda: cron.every_n_hours(24), "every_n_hours(n) must be a whole number from 1 to 23"),
        (lambda: cron.daily_at(24), "hour must be a whole number from 0 to 23, got 24"),
        (lambda: cron.daily_at(9, 60), "minute must be a whole number from 0 to 59, got 60"),
        (lambda: cron.daily_at(True), "hour must be a whole number"),
        (lambda: cron.on_days_at(["MON", "XYZ"], 9), "days must be names such as 'MON'"),
        (lambda: cron.on_days_at("MON", 9), "days must be a non-empty list"),
        (lambda: cron.on_days_at([], 9), "days must be a non-empty list"),
        (lambda: cron.monthly_at(day=32), "day must be a whole number from 1 to 31, got 32"),
        (lambda: cron.expression("61 * * * *"), "'61 * * * *' is not valid cron"),
        (lambda: cron.expression("* * * *"), "must have 5 fields"),
        (lambda: cron.expression("* * * * * *"), "for seconds use every=timedelta"),
        (lambda: cron.expression("0 0 30 2 *"), "never matches a date"),
        (lambda: cron.expression(42), "must be a string"),  # type: ignore[arg-type]
    ],
)
def test_bad_builder_arguments_raise_invalid_schedule_with_the_reason(
    call: object, message: str
) -> None:
    with pytest.raises(InvalidSchedule, match=re.escape(message)):
        call()  # type: ignore[operator]


def test_invalid_schedule_is_a_value_error() -> None:
    assert issubclass(InvalidSchedule, ValueError)
