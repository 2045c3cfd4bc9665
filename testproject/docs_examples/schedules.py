"""The examples of docs/howto/schedules.md, run by tests/integration/test_schedules.py."""

from __future__ import annotations

from datetime import timedelta

from django_taskflow import TimeWindow, cron, schedule, task, unschedule

SENT: list[str] = []


@task(schedule=cron.daily_at(9, 30))
def send_digest() -> None:
    SENT.append("digest")


@task
def cleanup() -> None:
    SENT.append("cleanup")


@task
def report(team: str) -> None:
    SENT.append(f"report:{team}")


schedule(cleanup, every=timedelta(hours=1), name="hourly-cleanup")
schedule(
    report,
    cron="0 9-17 * * 1-5",
    args=("sales",),
    timezone="Europe/Paris",
    window=TimeWindow.BUSINESS_HOURS,
    catch_up="run_once",
    overlap="skip",
    name="sales-report",
)


@task
def retired() -> None: ...


schedule(retired, cron=cron.weekend_at(10), name="retired-job")
unschedule("retired-job")  # at import: the declaration is withdrawn; sync disables its row
