"""Events, monitor(), signals and hooks: the example of docs/howto/events-and-hooks.md."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

from django_taskflow import (
    TaskContext,
    events,
    on_task_complete,
    on_task_failed,
    remove_hook,
    signals,
    task,
)
from django_taskflow.events import TaskEvent
from django_taskflow.monitor import (
    Cancelled,
    Failed,
    Queued,
    Retrying,
    Running,
    State,
    Succeeded,
    amonitor,
    monitor,
)

logger = logging.getLogger(__name__)

SAVED: list[dict[str, str]] = []  # stands in for the contacts table
REPORTS: list[dict[str, Any]] = []  # what report_error() was given
FINISHED: Counter[str] = Counter()  # successful runs, by task name


def save_contact(row: dict[str, str]) -> None:
    """Stand-in for writing one contact to the database."""
    SAVED.append(row)


def report_error(message: str, **context: Any) -> None:
    """Stand-in for an error tracker's client, such as ``sentry_sdk.capture_message``."""
    REPORTS.append({"message": message, **context})


# -- a task that reports its progress ------------------------------------------


@task(takes_context=True, tags=["imports"], dont_retry_on=(ValueError,), max_attempts=3)
def import_contacts(context: TaskContext, rows: list[dict[str, str]]) -> int:
    """Import contacts; a row without an email address fails the task for good."""
    for number, row in enumerate(rows, start=1):
        if "@" not in row.get("email", ""):
            raise ValueError(f"row {number} has no email address")
        save_contact(row)
        context.report_progress(number / len(rows), imported=number)
    return len(rows)


# -- following one task: monitor() ---------------------------------------------


def describe(state: State) -> str:
    """One line for each state that monitor() yields."""
    match state:
        case Queued():
            return "waiting for a worker"
        case Running(attempt=attempt, progress=progress):
            return f"attempt {attempt}: {progress or 0:.0%}"
        case Retrying(attempt=attempt, error=error):
            return f"attempt {attempt} failed ({error}); retrying"
        case Succeeded(output=output):
            return f"done: {output!r}"
        case Failed(error=error):
            return f"failed: {error}"
        case Cancelled():
            return "cancelled"


def follow(task_id: str, timeout: float = 60) -> list[str]:
    """Every state of one task, from enqueue to the end (or ``timeout`` seconds)."""
    return [describe(state) for state in monitor(task_id, timeout=timeout)]


async def afollow(task_id: str, timeout: float = 60) -> list[str]:
    return [describe(state) async for state in amonitor(task_id, timeout=timeout)]


# -- reading the log: events.stream() and its shortcuts ---------------------------


def failed_imports(after: int = 0) -> list[str]:
    """'key: error' for every import that failed for good, as recorded so far."""
    return [
        f"{event.key}: {event.error}"
        for event in events.failures(tags=["imports"], after=after, follow=False)
    ]


async def progress_updates(task_id: str, timeout: float = 60) -> AsyncIterator[str]:
    """Live progress of one task, for a streaming response or a websocket."""
    async for event in events.stream(task=task_id, after=0, timeout=timeout):
        if event.kind == "progress":
            yield f"{event.progress:.0%}"
        elif event.status in ("succeeded", "failed", "cancelled"):
            yield event.status
            return


# -- hooks and signals -----------------------------------------------------------


def report_failure(event: TaskEvent) -> None:
    """Send a final failure, with the error of every attempt, to the error tracker."""
    report_error(
        f"{event.task_name} failed: {event.error}",
        task_id=event.task_id,
        key=event.key,
        tags=list(event.tags),
        attempts=[str(error) for error in event.errors],
    )


def count_success(event: TaskEvent) -> None:
    FINISHED[event.task_name] += 1


def log_retry(sender: object, event: TaskEvent, **kwargs: object) -> None:
    logger.warning(
        "%s attempt %d failed (%s); retrying at %s",
        event.task_name,
        event.attempt,
        event.error,
        event.data.get("retry_at"),
    )


def install() -> None:
    """Connect the hooks and the receiver; call it from an AppConfig.ready()."""
    on_task_failed(report_failure)
    on_task_complete(count_success)
    signals.task_retrying.connect(log_retry, dispatch_uid="docs-examples-log-retry")


def uninstall() -> None:
    remove_hook(report_failure)
    remove_hook(count_success)
    signals.task_retrying.disconnect(dispatch_uid="docs-examples-log-retry")
