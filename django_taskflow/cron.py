"""Cron expressions that read like their intent: ``cron.daily_at(9, 30)``.

Pure: no database. Each builder returns a :class:`CronExpression` whose
``str()`` is its 5-field expression (minute hour day-of-month month
day-of-week), so a reader learns cron from it. The arithmetic is
croniter's; this module only builds and checks expressions, and
:func:`describe` puts one into words for the admin.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django_taskflow.exceptions import InvalidSchedule

DAY_NAMES = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")  # cron numbers 0..6
FULL_DAY_NAMES = ("Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday")


def croniter_class() -> Any:
    """croniter, imported on first use: it costs ~50 ms, which a worker's start need not pay."""
    from croniter import croniter

    return croniter


@dataclass(frozen=True, slots=True)
class CronExpression:
    """A checked 5-field cron expression; ``str()`` gives it back."""

    expression: str

    def __post_init__(self) -> None:
        check_expression(self.expression)

    def __str__(self) -> str:
        return self.expression

    def describe(self) -> str:
        """The expression in words, e.g. "every day at 09:30"."""
        return describe(self.expression)


def check_expression(expression: object) -> str:
    """Return ``expression`` if croniter accepts it as 5 fields that ever match.

    Raises :class:`InvalidSchedule` with the reason otherwise.
    """
    if not isinstance(expression, str):
        raise InvalidSchedule(
            f"a cron expression must be a string such as '0 9 * * 1-5', got {expression!r}."
        )
    fields = expression.split()
    if len(fields) != 5:
        raise InvalidSchedule(
            f"cron expression {expression!r} must have 5 fields (minute hour day-of-month "
            f"month day-of-week), it has {len(fields)}; for seconds use every=timedelta(...)."
        )
    croniter = croniter_class()
    if not croniter.is_valid(expression):
        raise InvalidSchedule(f"cron expression {expression!r} is not valid cron.")
    try:
        croniter(expression, datetime(2000, 1, 1)).get_next(datetime)
    except (ValueError, KeyError) as exc:  # CroniterBadDateError is a ValueError
        raise InvalidSchedule(
            f"cron expression {expression!r} never matches a date ({exc})."
        ) from exc
    return expression


def _whole(name: str, value: object, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise InvalidSchedule(f"{name} must be a whole number from {low} to {high}, got {value!r}.")
    return value


def _day_number(day: object) -> int:
    if isinstance(day, str) and day.strip().upper()[:3] in DAY_NAMES:
        return DAY_NAMES.index(day.strip().upper()[:3])
    raise InvalidSchedule(
        f"days must be names such as 'MON' or 'Monday' ({', '.join(DAY_NAMES)}), got {day!r}."
    )


def every_n_minutes(n: int) -> CronExpression:
    """Every ``n`` minutes, from minute 0 of each hour (``n`` divides the hour best)."""
    _whole("every_n_minutes(n)", n, 1, 59)
    return CronExpression("* * * * *" if n == 1 else f"*/{n} * * * *")


def every_n_hours(n: int, minute: int = 0) -> CronExpression:
    """Every ``n`` hours at ``minute``, from midnight."""
    _whole("every_n_hours(n)", n, 1, 23)
    _whole("minute", minute, 0, 59)
    return CronExpression(f"{minute} * * * *" if n == 1 else f"{minute} */{n} * * *")


def daily_at(hour: int, minute: int = 0) -> CronExpression:
    """Every day at ``hour:minute`` in the schedule's time zone."""
    _whole("hour", hour, 0, 23)
    _whole("minute", minute, 0, 59)
    return CronExpression(f"{minute} {hour} * * *")


def on_days_at(days: Sequence[str], hour: int, minute: int = 0) -> CronExpression:
    """On the given days of the week (``["MON", "WED"]``) at ``hour:minute``."""
    if isinstance(days, str) or not days:
        raise InvalidSchedule(
            f"days must be a non-empty list such as ['MON', 'FRI'], got {days!r}."
        )
    _whole("hour", hour, 0, 23)
    _whole("minute", minute, 0, 59)
    numbers = sorted({_day_number(day) for day in days})
    return CronExpression(f"{minute} {hour} * * {','.join(str(n) for n in numbers)}")


def weekdays_at(hour: int, minute: int = 0) -> CronExpression:
    """Monday to Friday at ``hour:minute``."""
    _whole("hour", hour, 0, 23)
    _whole("minute", minute, 0, 59)
    return CronExpression(f"{minute} {hour} * * 1-5")


def weekend_at(hour: int, minute: int = 0) -> CronExpression:
    """Saturday and Sunday at ``hour:minute``."""
    _whole("hour", hour, 0, 23)
    _whole("minute", minute, 0, 59)
    return CronExpression(f"{minute} {hour} * * 0,6")


def monthly_at(day: int = 1, hour: int = 0, minute: int = 0) -> CronExpression:
    """On ``day`` of each month at ``hour:minute`` (months without that day are skipped)."""
    _whole("day", day, 1, 31)
    _whole("hour", hour, 0, 23)
    _whole("minute", minute, 0, 59)
    return CronExpression(f"{minute} {hour} {day} * *")


def expression(text: str) -> CronExpression:
    """Any 5-field cron expression, checked: ``expression("0 9-17 * * 1-5")``."""
    return CronExpression(text)


MONTH_NAMES = (
    "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December",
)  # fmt: skip


def _and(items: Sequence[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _time(hour: str, minute: str) -> str | None:
    if hour.isdigit() and minute.isdigit():
        return f"{int(hour):02d}:{int(minute):02d}"
    return None


def _days(field: str) -> str | None:
    """Day-of-week field in words, for plain lists and ranges of numbers."""
    if field == "1-5":
        return "Monday to Friday"
    if field in ("0,6", "6,0"):
        return "Saturday and Sunday"
    parts = field.split(",")
    if all(part.isdigit() and int(part) <= 7 for part in parts):
        return _and([FULL_DAY_NAMES[int(part) % 7] for part in parts])
    return None


def _hour_range(hour: str) -> tuple[int, int] | None:
    first, _, last = hour.partition("-")
    if first.isdigit() and last.isdigit():
        return int(first), int(last)
    return None


def _times(minute: str, hour: str) -> str:
    """The time-of-day part: "at 09:30", "every 15 minutes", "every hour from 09:00 to 17:00"."""
    every_n = minute[2:] if minute.startswith("*/") else None
    hours = _hour_range(hour)
    if minute.isdigit():
        if hour.isdigit():
            return f"at {int(hour):02d}:{int(minute):02d}"
        if hour == "*":
            return f"every hour at minute {int(minute)}"
        if hour.startswith("*/"):
            return f"every {hour[2:]} hours at minute {int(minute)}"
        if hours:
            return f"every hour from {hours[0]:02d}:{int(minute):02d} to {hours[1]:02d}:{int(minute):02d}"
        if all(part.isdigit() for part in hour.split(",")):
            return "at " + _and([f"{int(h):02d}:{int(minute):02d}" for h in hour.split(",")])
    if minute == "*" and hour == "*":
        return "every minute"
    if every_n and hour == "*":
        return f"every {every_n} minutes"
    if every_n and hours:
        return f"every {every_n} minutes from {hours[0]:02d}:00 to {hours[1]:02d}:59"
    return f"at minute {minute} of hour {hour}"


def describe(text: str) -> str:
    """Put a cron expression into words: ``"30 9 * * 1-5"`` is "Monday to Friday at 09:30".

    Reads the builders' shapes and the common variations of them; any other
    field is quoted as it is ("on days 1,15 of the month").
    """
    fields = text.split()
    if len(fields) != 5:
        return text
    minute, hour, day, month, weekday = fields
    times = _times(minute, hour)
    months = None
    if month != "*":
        numbers = month.split(",")
        names = [MONTH_NAMES[int(n) - 1] for n in numbers if n.isdigit() and 1 <= int(n) <= 12]
        months = _and(names) if len(names) == len(numbers) else f"months {month}"
    parts = []
    if weekday != "*":
        parts.append(_days(weekday) or f"on days of the week {weekday}")
    if day != "*":
        which = f"day {int(day)}" if day.isdigit() else f"days {day}"
        parts.append(f"on {which} of {months or 'every month'}")
    elif months:
        parts.append(f"every day in {months}" if weekday == "*" else f"in {months}")
    if not parts:
        return f"every day {times}" if times.startswith("at ") else times
    return " ".join(parts) + ("" if times.startswith("at ") else ",") + " " + times
