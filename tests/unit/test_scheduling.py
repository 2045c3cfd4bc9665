"""Time windows and catch-up decisions, with a fixed clock (no database)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from django_taskflow import InvalidSchedule, TimeWindow
from django_taskflow.scheduling import CatchUp, Timing, plan


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)  # type: ignore[misc]


def test_a_run_planned_outside_its_window_waits_for_the_opening() -> None:
    timing = Timing(cron="0 * * * *", timezone="UTC", window=TimeWindow.OFF_PEAK)
    # 12:00 is outside 02:00-05:00: it fires at 02:00 the next day.
    assert timing.fire_time(utc(2026, 1, 5, 12)) == utc(2026, 1, 6, 2)
    assert timing.fire_time(utc(2026, 1, 6, 3)) == utc(2026, 1, 6, 3)
    assert timing.fire_time(utc(2026, 1, 6, 5)) == utc(2026, 1, 7, 2)  # the end is excluded


def test_a_window_that_crosses_midnight() -> None:
    window = TimeWindow(start="22:00", end="06:00")
    timing = Timing(cron="0 * * * *", timezone="UTC", window=window)
    assert timing.fire_time(utc(2026, 1, 5, 23)) == utc(2026, 1, 5, 23)
    assert timing.fire_time(utc(2026, 1, 6, 1)) == utc(2026, 1, 6, 1)  # after midnight
    assert timing.fire_time(utc(2026, 1, 6, 6)) == utc(2026, 1, 6, 22)
    assert timing.fire_time(utc(2026, 1, 6, 14)) == utc(2026, 1, 6, 22)
    # Hourly runs during the day collapse onto one opening: the next five fire times.
    assert timing.upcoming(utc(2026, 1, 6, 5, 30), 3) == [
        utc(2026, 1, 6, 22),
        utc(2026, 1, 6, 23),
        utc(2026, 1, 7, 0),
    ]


def test_a_window_on_some_days_counts_the_night_after_its_opening_day() -> None:
    # Opens on Fridays only (2026-01-09 is a Friday), crossing into Saturday.
    window = TimeWindow("22:00", "06:00", days=["FRI"])
    timing = Timing(cron="0 * * * *", timezone="UTC", window=window)
    assert timing.fire_time(utc(2026, 1, 7, 23)) == utc(2026, 1, 9, 22)  # Wednesday night
    assert timing.fire_time(utc(2026, 1, 10, 3)) == utc(2026, 1, 10, 3)  # Saturday 03:00
    assert timing.fire_time(utc(2026, 1, 11, 3)) == utc(2026, 1, 16, 22)  # Sunday 03:00


def test_business_hours_follow_the_schedules_time_zone() -> None:
    timing = Timing(cron="0 * * * *", timezone="America/New_York", window=TimeWindow.BUSINESS_HOURS)
    # Saturday 2026-01-10 12:00 New York waits for Monday 09:00 New York (14:00 UTC).
    assert timing.fire_time(utc(2026, 1, 10, 17)) == utc(2026, 1, 12, 14)
    assert timing.fire_time(utc(2026, 1, 12, 15)) == utc(2026, 1, 12, 15)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"start": "22:00", "end": "22:00"}, "needs some length"),
        ({"start": "25:00", "end": "06:00"}, "window start must be a time such as '22:00'"),
        ({"start": "22:00", "end": "06:00", "days": ["MON", "Funday"]}, "'Funday'"),
    ],
)
def test_a_bad_window_is_refused(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidSchedule, match=message):
        TimeWindow(**kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"cron": "0 * * * *", "timezone": "Mars/Olympus"}, "not a known time zone"),
        ({"cron": "0 * * * *", "every": timedelta(hours=1)}, "not both"),
        ({}, "not both and not neither"),
        ({"every": timedelta(milliseconds=10)}, "at least 1 second"),
        ({"cron": "0 * * * *", "window": "nights"}, "window must be a TimeWindow"),
    ],
)
def test_bad_timing_is_refused(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidSchedule, match=message):
        Timing(**kwargs)  # type: ignore[arg-type]


HOURLY = Timing(cron="0 * * * *", timezone="UTC")


def test_a_run_on_time_fires_and_the_cursor_moves_to_the_next_planned_time() -> None:
    decision = plan(
        HOURLY, cursor=utc(2026, 1, 5, 9), anchor=None, now=utc(2026, 1, 5, 9, 0, 1),
        catch_up=CatchUp.SKIP, collapse=True,
    )  # fmt: skip
    assert [run.planned_at for run in decision.runs] == [utc(2026, 1, 5, 9)]
    assert decision.next_planned == utc(2026, 1, 5, 10)
    assert decision.missed == 0


def test_catch_up_skip_drops_runs_missed_during_downtime() -> None:
    # Down from 08:30 to 12:20: the 09:00, 10:00, 11:00 and 12:00 runs were missed.
    decision = plan(
        HOURLY, cursor=utc(2026, 1, 5, 9), anchor=None, now=utc(2026, 1, 5, 12, 20),
        catch_up=CatchUp.SKIP, collapse=True,
    )  # fmt: skip
    assert decision.runs == ()
    assert decision.missed == 4
    assert decision.next_planned == utc(2026, 1, 5, 13)


def test_catch_up_run_once_fires_one_run_for_all_that_were_missed() -> None:
    decision = plan(
        HOURLY, cursor=utc(2026, 1, 5, 9), anchor=None, now=utc(2026, 1, 5, 12, 20),
        catch_up=CatchUp.RUN_ONCE, collapse=True,
    )  # fmt: skip
    assert [run.planned_at for run in decision.runs] == [utc(2026, 1, 5, 12)]
    assert decision.missed == 3
    assert decision.next_planned == utc(2026, 1, 5, 13)


def test_catch_up_never_replays_a_long_downtime_one_run_at_a_time() -> None:
    every_second = Timing(every=timedelta(seconds=1), timezone="UTC")
    start = utc(2026, 1, 1)
    decision = plan(
        every_second, cursor=start, anchor=start, now=start + timedelta(days=4),
        catch_up=CatchUp.RUN_ONCE, collapse=True,
    )  # fmt: skip
    assert len(decision.runs) == 1
    assert decision.next_planned == start + timedelta(days=4, seconds=1)


def test_runs_a_window_deferred_collapse_into_one_unless_queued() -> None:
    timing = Timing(cron="0 * * * *", timezone="UTC", window=TimeWindow.OFF_PEAK)
    opening = utc(2026, 1, 6, 2)
    # The cursor was at 21:00 the day before; runs 21:00..01:00 all wait for 02:00.
    cursor = utc(2026, 1, 5, 21)
    collapsed = plan(
        timing, cursor=cursor, anchor=None, now=opening, catch_up=CatchUp.SKIP, collapse=True
    )
    # One run at the opening stands for all of them (02:00's own run included).
    assert [(run.planned_at, run.fire_at) for run in collapsed.runs] == [(cursor, opening)]
    queued = plan(
        timing, cursor=cursor, anchor=None, now=opening, catch_up=CatchUp.SKIP, collapse=False
    )
    assert len(queued.runs) == 6  # 21:00, 22:00, 23:00, 00:00, 01:00 and 02:00 itself
    assert queued.next_planned == utc(2026, 1, 6, 3)
