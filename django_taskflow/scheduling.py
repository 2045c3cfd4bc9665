"""When a schedule runs: planned times, time zones, windows and catch-up (pure).

No database. A schedule's *planned* times come from its cron expression
(croniter, on the wall clock of its time zone) or its interval (plain
elapsed time). A time window may defer a planned time to the window's
next opening: its *fire* time. The scheduler (``scheduler.py``) keeps a
cursor, the next planned time, and asks :func:`plan` what to do with the
planned times that came due.

Daylight saving: cron times are wall-clock times. A wall time that does
not exist (02:30 on the spring change) runs at the first instant after it
(the change itself, 03:00); a wall time that exists twice runs once, at
its first occurrence. Intervals are elapsed time and ignore the clock.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import ClassVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.db.models import TextChoices
from django.utils.translation import gettext_lazy as _

from django_taskflow.cron import DAY_NAMES, CronExpression, check_expression, croniter_class
from django_taskflow.exceptions import InvalidSchedule

# A run that fires more than this after its fire time was missed (the
# scheduler was down): catch_up decides what becomes of it.
MISSED_AFTER = timedelta(seconds=60)
# How many due planned times one tick looks at before it treats the rest
# of a long downtime as missed at once (it never replays them one by one).
MAX_DUE_PER_TICK = 100
# Safety bound for walking croniter past times a DST change removes.
_MAX_CRON_STEPS = 1000


class CatchUp(TextChoices):
    """What happens to runs missed while no scheduler ran."""

    SKIP = "skip", _("Skip: wait for the next planned time")
    RUN_ONCE = "run_once", _("Run once now for all that were missed")


class Overlap(TextChoices):
    """What happens when a run comes due while the previous one is queued or running."""

    SKIP = "skip", _("Skip the new run")
    QUEUE = "queue", _("Queue it to run after the previous one")
    ALLOW = "allow", _("Allow runs side by side")


def zone(name: object) -> ZoneInfo:
    """The ``ZoneInfo`` named ``name``; :class:`InvalidSchedule` if there is none."""
    if not isinstance(name, str) or not name:
        raise InvalidSchedule(
            f"timezone must be an IANA name such as 'Europe/Paris', got {name!r}."
        )
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise InvalidSchedule(
            f"timezone {name!r} is not a known time zone; use an IANA name such as "
            "'Europe/Paris' or 'UTC'."
        ) from exc


def parse_time(name: str, value: object) -> time:
    """A ``time`` from ``"22:00"`` or a ``time``; :class:`InvalidSchedule` naming ``name``."""
    if isinstance(value, time):
        return value.replace(tzinfo=None)
    if isinstance(value, str):
        try:
            return time.fromisoformat(value.strip())
        except ValueError:
            pass
    raise InvalidSchedule(f"window {name} must be a time such as '22:00', got {value!r}.")


def parse_days(value: object) -> tuple[int, ...]:
    """Day numbers (0 = Monday, as ``datetime.weekday()``) from names; all days if empty."""
    if value is None or value == "" or value == ():
        return tuple(range(7))
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, Sequence):
        raise InvalidSchedule(f"window days must be a list such as ['MON', 'TUE'], got {value!r}.")
    numbers: set[int] = set()
    for item in items:
        key = item.strip().upper()[:3] if isinstance(item, str) else None
        if key not in DAY_NAMES:
            raise InvalidSchedule(
                f"window days must be names such as 'MON' or 'Monday', got {item!r}."
            )
        numbers.add((DAY_NAMES.index(key) - 1) % 7)  # cron's Sunday=0 -> weekday()'s 6
    return tuple(sorted(numbers))


@dataclass(frozen=True, slots=True)
class TimeWindow:
    """Hours in which a schedule may run, in its time zone: ``TimeWindow("22:00", "06:00")``.

    ``days`` are the days on which the window *opens* (all by default); a
    window whose end is before its start crosses midnight. A run planned
    outside the window waits for its next opening.
    """

    start: time | str
    end: time | str
    days: Sequence[str] | str | None = None

    OFF_PEAK: ClassVar[TimeWindow]
    BUSINESS_HOURS: ClassVar[TimeWindow]

    @property
    def opens(self) -> time:
        return parse_time("start", self.start)

    @property
    def closes(self) -> time:
        return parse_time("end", self.end)

    @property
    def day_numbers(self) -> tuple[int, ...]:
        return parse_days(self.days)

    def __post_init__(self) -> None:
        if self.opens == self.closes:
            raise InvalidSchedule(
                f"window start and end are both {self.opens:%H:%M}: a window needs some length."
            )
        self.day_numbers  # noqa: B018 - checks the days

    @property
    def day_text(self) -> str:
        """Days as stored: ``"MON,TUE"``, or ``""`` for every day."""
        numbers = self.day_numbers
        if len(numbers) == 7:
            return ""
        return ",".join(DAY_NAMES[(n + 1) % 7] for n in numbers)

    def __str__(self) -> str:
        days = f" on {self.day_text}" if self.day_text else ""
        return f"{self.opens:%H:%M}-{self.closes:%H:%M}{days}"

    def contains(self, local: datetime) -> bool:
        """Whether the wall-clock time ``local`` (naive) is inside the window."""
        opens, closes, days = self.opens, self.closes, self.day_numbers
        moment = local.time()
        if opens < closes:
            return local.weekday() in days and opens <= moment < closes
        if moment >= opens:
            return local.weekday() in days
        return moment < closes and (local - timedelta(days=1)).weekday() in days

    def next_opening(self, local: datetime) -> datetime:
        """The first opening (naive wall time) at or after ``local``."""
        for offset in range(8):
            day = (local + timedelta(days=offset)).date()
            opening = datetime.combine(day, self.opens)
            if opening >= local and day.weekday() in self.day_numbers:
                return opening
        raise AssertionError("a window with days opens within a week")  # pragma: no cover


TimeWindow.OFF_PEAK = TimeWindow("02:00", "05:00")
TimeWindow.BUSINESS_HOURS = TimeWindow("09:00", "17:00", days=("MON", "TUE", "WED", "THU", "FRI"))


def wall_time(instant: datetime, tz: ZoneInfo) -> datetime:
    """The naive wall-clock time of ``instant`` in ``tz``."""
    # Through UTC: astimezone() to an aware time's own zone returns it unchanged.
    return instant.astimezone(UTC).astimezone(tz).replace(tzinfo=None)


def to_instant(local: datetime, tz: ZoneInfo) -> datetime:
    """The UTC instant of the wall time ``local`` in ``tz``.

    A wall time that exists twice gives its first occurrence; one that does
    not exist (skipped by a DST change) gives the change itself, the first
    instant after it.
    """
    aware = local.replace(tzinfo=tz, fold=0)
    if wall_time(aware, tz) == local:
        return aware.astimezone(UTC)
    # In a gap: the change lies between the two readings of the offset.
    low = local.replace(tzinfo=tz, fold=1).astimezone(UTC)  # before the change
    high = aware.astimezone(UTC)  # after it
    while high - low > timedelta(seconds=1):
        middle = low + (high - low) / 2
        if wall_time(middle, tz) >= local:
            high = middle
        else:
            low = middle
    return high.replace(microsecond=0)


@dataclass(frozen=True, slots=True, kw_only=True)
class Timing:
    """When a schedule runs: a cron expression or an interval, a time zone, a window."""

    cron: str | None = None
    every: timedelta | None = None
    timezone: str = "UTC"
    window: TimeWindow | None = None

    def __post_init__(self) -> None:
        if (self.cron is None) == (self.every is None):
            raise InvalidSchedule("give either cron= or every=, not both and not neither.")
        if self.cron is not None:
            check_expression(self.cron)
        if self.every is not None and (
            not isinstance(self.every, timedelta) or self.every < timedelta(seconds=1)
        ):
            raise InvalidSchedule(
                f"every must be a timedelta of at least 1 second, got {self.every!r}."
            )
        zone(self.timezone)
        if self.window is not None and not isinstance(self.window, TimeWindow):
            raise InvalidSchedule(
                f"window must be a TimeWindow (e.g. TimeWindow.OFF_PEAK), got {self.window!r}."
            )

    @property
    def tz(self) -> ZoneInfo:
        return zone(self.timezone)

    def planned_after(self, after: datetime, anchor: datetime | None = None) -> datetime:
        """The first planned instant strictly after ``after`` (aware, UTC).

        Intervals count from ``anchor`` (the schedule's first planned time),
        or from ``after`` itself when there is none.
        """
        if self.every is not None:
            if anchor is None or anchor > after:
                return (anchor or after + self.every).astimezone(UTC)
            steps = (after - anchor) // self.every + 1
            return (anchor + steps * self.every).astimezone(UTC)
        assert self.cron is not None  # noqa: S101 - checked in __post_init__
        tz = self.tz
        walker = croniter_class()(self.cron, wall_time(after, tz))
        for _step in range(_MAX_CRON_STEPS):
            instant = to_instant(walker.get_next(datetime), tz)
            if instant > after:  # not a second reading of a repeated hour, nor a gap's
                return instant
        raise InvalidSchedule(f"cron expression {self.cron!r} found no time after {after}.")

    def fire_time(self, planned: datetime) -> datetime:
        """When the run planned at ``planned`` fires: then, or at the window's next opening."""
        if self.window is None:
            return planned
        tz = self.tz
        local = wall_time(planned, tz)
        if self.window.contains(local):
            return planned
        return max(planned, to_instant(self.window.next_opening(local), tz))

    def upcoming(
        self, after: datetime, count: int, anchor: datetime | None = None
    ) -> list[datetime]:
        """The next ``count`` fire times after ``after`` (runs a window merges count once)."""
        times: list[datetime] = []
        planned = after
        for _step in range(count * 50):
            planned = self.planned_after(planned, anchor)
            fire = self.fire_time(planned)
            if not times or fire != times[-1]:
                times.append(fire)
            if len(times) == count:
                break
        return times


def timing_from(value: object, *, timezone: str, window: TimeWindow | None = None) -> Timing:
    """A :class:`Timing` from what ``@task(schedule=...)`` accepts.

    A cron builder or expression string, or a ``timedelta`` interval.
    """
    if isinstance(value, CronExpression):
        return Timing(cron=str(value), timezone=timezone, window=window)
    if isinstance(value, str):
        return Timing(cron=value, timezone=timezone, window=window)
    if isinstance(value, timedelta):
        return Timing(every=value, timezone=timezone, window=window)
    raise InvalidSchedule(
        "schedule must be a cron builder such as cron.daily_at(9, 30), a cron expression "
        f"string, or a timedelta, got {value!r}."
    )


@dataclass(frozen=True, slots=True)
class Run:
    """One run the scheduler decided on: its planned time and when it fires."""

    planned_at: datetime
    fire_at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class Plan:
    """What one tick does with a schedule whose cursor came due.

    ``runs``: to fire now, oldest first (the overlap policy still applies);
    ``missed``: how many planned times were dropped; ``next_planned`` and
    ``next_fire``: the new cursor.
    """

    runs: tuple[Run, ...]
    missed: int
    next_planned: datetime
    next_fire: datetime


def plan(
    timing: Timing,
    *,
    cursor: datetime,
    anchor: datetime | None,
    now: datetime,
    catch_up: str,
    collapse: bool,
) -> Plan:
    """Decide which due planned times fire, from ``cursor`` (the next planned time) up to ``now``.

    A run whose fire time is more than :data:`MISSED_AFTER` ago was missed:
    ``catch_up="skip"`` drops it; ``"run_once"`` fires one run for all the
    missed ones, unless a run on time fires in the same tick. Runs a window
    deferred to the same opening collapse into one unless ``collapse`` is
    False (``overlap="queue"``).
    """
    due: list[Run] = []
    planned = cursor
    fire = timing.fire_time(planned)
    overflow = False
    while fire <= now:
        if len(due) == MAX_DUE_PER_TICK:
            overflow = True
            planned = timing.planned_after(now, anchor)
            fire = timing.fire_time(planned)
            break
        due.append(Run(planned, fire))
        planned = timing.planned_after(planned, anchor)
        fire = timing.fire_time(planned)
    if collapse:
        merged: list[Run] = []
        for run in due:
            if merged and merged[-1].fire_at == run.fire_at:
                continue  # deferred to the same opening: one run stands for both
            merged.append(run)
        due = merged
    on_time = tuple(run for run in due if now - run.fire_at <= MISSED_AFTER)
    missed = [run for run in due if now - run.fire_at > MISSED_AFTER]
    runs = on_time
    if missed and not on_time and catch_up == CatchUp.RUN_ONCE:
        runs = (missed[-1],)
    dropped = len(due) - len(runs) + (1 if overflow else 0)
    return Plan(runs=runs, missed=max(dropped, 0), next_planned=planned, next_fire=fire)
