"""Example tasks that the demo enqueues; each shows one feature."""

from __future__ import annotations

import random
import time

from django.tasks import task as django_task

from django_taskflow import Concurrency, RateLimit, RetryPolicy, TaskContext, Timeout, task


@task
def add(a: int, b: int) -> int:
    """Add two numbers: the smallest possible task."""
    return a + b


@task(
    queue_name="emails",
    max_attempts=3,
    retry=RetryPolicy.exponential(initial_delay=1, max_delay=10),
    dont_retry_on=(ValueError,),
    tags=["email"],
)
def send_welcome_email(address: str) -> str:
    """Pretend to send an email, failing now and then to show retries."""
    if random.random() < 0.3:
        raise ConnectionError(f"SMTP server refused {address}")
    return f"sent to {address}"


@task(queue_name="reports", takes_context=True, timeout=Timeout(soft=20, hard=60))
def build_report(context: TaskContext, rows: int) -> dict[str, int]:
    """A slower task that reports its progress (watch it in the admin timeline)."""
    for done in range(1, rows + 1):
        time.sleep(0.1)
        context.report_progress(done / rows, f"{done} of {rows} rows", rows_done=done)
    return {"rows": rows, "attempt": context.attempt}


@task(takes_context=True)
def progress_ticks(context: TaskContext, count: int, pause: float) -> int:
    """Report progress ``count`` times, ``pause`` seconds apart (the live benchmark's task)."""
    for tick in range(1, count + 1):
        time.sleep(pause)
        context.report_progress(tick / count, f"tick {tick}")
    return count


@task(
    max_attempts=5,
    retry=RetryPolicy.fixed(2),
    validator=lambda code: None if code == 200 else code,
    retry_if=lambda error: error != 415,
)
def upload_file(path: str) -> int:
    """Secretary's example: a status code other than 200 is an error; 415 is final."""
    return random.choice([200, 200, 503, 415])


@task(max_attempts=2)
def always_fails() -> None:
    """Fails every time, to show errors and tracebacks in the admin."""
    raise ValueError("this task always fails")


@django_task
def plain_django_task(name: str) -> str:
    """Defined with Django's own decorator: runs unchanged on our backend."""
    return f"hello {name}"


@task
def noop() -> None:
    """Does nothing: the benchmarks measure the queue, not the work."""


@task
def heartbeat() -> str:
    """Fired by the demo's schedule every few seconds: watch it in the admin."""
    return "still here"


# Beside the no-ops, the benchmark's "limits" figure runs these: work under a
# concurrency cap and a rate limit must not slow the tasks that have none.
@task(concurrency=Concurrency.SERIAL)
def noop_capped() -> None:
    """A no-op that runs one at a time across all workers."""


@task(rate_limit=RateLimit.CONSERVATIVE)
def noop_rate_limited() -> None:
    """A no-op of which at most 5 start per minute."""
