"""Time limits, progress and leases: the example of docs/howto/retries-and-timeouts.md."""

from __future__ import annotations

import logging

from django_taskflow import RetryPolicy, TaskContext, Timeout, task

logger = logging.getLogger(__name__)


def write_row(report_id: int, row: int) -> None:
    """Stand-in for the slow part of an export."""


def render_pdf(path: str) -> bytes:
    """Stand-in for a long call into a C library that holds the GIL."""
    return path.encode()


def warn_slow_export(context: TaskContext) -> None:
    """Called once, in the worker, when an export passes its soft limit."""
    logger.warning(
        "export %s is slow (attempt %d of %d)",
        context.task_id,
        context.attempt,
        context.max_attempts,
    )


@task(
    takes_context=True,
    max_attempts=2,
    timeout=Timeout(soft=60, hard=300, on_soft_timeout=warn_slow_export),
)
def export_report(context: TaskContext, report_id: int, rows: int) -> dict[str, int]:
    """Warned about after a minute, stopped after five; reports its progress as it goes."""
    for row in range(1, rows + 1):
        write_row(report_id, row)
        if row % 100 == 0 or row == rows:
            context.report_progress(row / rows, rows=row)
    return {"report": report_id, "rows": rows}


@task(timeout=Timeout.QUICK, max_attempts=3, retry=RetryPolicy.fixed(5))
def ping_partner(url: str) -> bool:
    """10 s soft, 30 s hard; a timed-out attempt is retried 5 s later."""
    return url.startswith("https://")


@task(takes_context=True, timeout=Timeout(soft=None, hard=3600))
def build_pdf(context: TaskContext, path: str) -> int:
    """A hard limit only: write soft=None, since the default soft limit (300 s) would stay."""
    context.extend_lease(900)  # the next call may hold the GIL for up to 15 minutes
    return len(render_pdf(path))
