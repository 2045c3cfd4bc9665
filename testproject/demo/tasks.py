"""Example tasks that the demo enqueues; each shows one feature."""

from __future__ import annotations

import random
import time

from django.tasks import task as django_task

from django_taskflow import TaskContext, task


@task
def add(a: int, b: int) -> int:
    """Add two numbers: the smallest possible task."""
    return a + b


@task(queue_name="emails", max_attempts=3, tags=["email"])
def send_welcome_email(address: str) -> str:
    """Pretend to send an email, failing now and then to show retries."""
    if random.random() < 0.3:
        raise ConnectionError(f"SMTP server refused {address}")
    return f"sent to {address}"


@task(queue_name="reports", takes_context=True)
def build_report(context: TaskContext, rows: int) -> dict[str, int]:
    """A slower task that knows which attempt it is."""
    time.sleep(min(rows, 50) / 100)
    return {"rows": rows, "attempt": context.attempt}


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
