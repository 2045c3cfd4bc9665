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

from croniter import croniter

from django_taskflow.exceptions import InvalidSchedule

DAY_NAMES = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")  # cron numbers 0..6
FULL_DAY_NAMES = ("Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday")


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
        names = [FULL_DAY_NAMES[int(part) % 7] for part in parts]
        return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
    return None


def describe(text: str) -> str:
    """Put a cron expression into words: the builders' shapes, else a field-by-field reading.

    ``describe("30 9 * * 1-5")`` gives "Monday to Friday at 09:30".
    """
    fields = text.split()
    if len(fields) != 5:
        return text
    minute, hour, day, month, weekday = fields
    at = _time(hour, minute)
    if month == "*" and day == "*" and weekday == "*":
        if (minute, hour) == ("*", "*"):
            return "every minute"
        if minute.startswith("*/") and hour == "*":
            return f"every {minute[2:]} minutes"
        if minute.isdigit() and hour == "*":
            return f"every hour at minute {int(minute)}"
        if minute.isdigit() and hour.startswith("*/"):
            return f"every {hour[2:]} hours at minute {int(minute)}"
        if at:
            return f"every day at {at}"
    if month == "*" and day == "*" and at and (days := _days(weekday)):
        return f"{days} at {at}"
    if month == "*" and weekday == "*" and day.isdigit() and at:
        return f"on day {int(day)} of every month at {at}"
    words = [f"minute {minute}", f"hour {hour}"]
    if day != "*":
        words.append(f"day of month {day}")
    if month != "*":
        words.append(f"month {month}")
    if weekday != "*":
        words.append(f"day of week {_days(weekday) or weekday}")
    return f"cron {text}: at " + ", ".join(words)
