"""Module-level tasks the tests enqueue (tasks must be importable by path)."""

from __future__ import annotations

import os
import time
from pathlib import Path

from django.tasks import task as django_task

from django_taskflow import TaskContext, task


@task
def noop() -> None:
    return None


@task
def add(a: int, b: int) -> int:
    return a + b


@task(priority=0)
def echo(value: object) -> object:
    return value


@task(max_attempts=3, retry_delay=0)
def fail_always(message: str = "boom") -> None:
    raise RuntimeError(message)


@task
def fail_once() -> None:
    raise ValueError("no retries asked for")


@task(takes_context=True, max_attempts=3, retry_delay=0)
def fail_until_attempt(context: TaskContext, succeed_on: int) -> int:
    if context.attempt < succeed_on:
        raise ConnectionError(f"attempt {context.attempt} failed")
    return context.attempt


@task(takes_context=True)
def whoami(context: TaskContext) -> dict[str, object]:
    return {"task_id": context.task_id, "attempt": context.attempt, "worker": context.worker_id}


@task
async def async_add(a: int, b: int) -> int:
    return a + b


@task
def returns_set() -> object:
    return {1, 2}


@task
def returns_nul() -> str:
    return "a\x00b"


@task(takes_context=True, max_attempts=3, retry_delay=0)
def record_run(context: TaskContext, log_path: str, seconds: float = 0.0) -> str:
    """Append this task's id to a file, so tests can count real executions."""
    if seconds:
        time.sleep(seconds)
    with Path(log_path).open("a") as log:
        log.write(f"{context.task_id} {context.attempt} {os.getpid()}\n")
    return context.task_id


@task(takes_context=True, max_attempts=3, retry_delay=0)
def mark_then_sleep(context: TaskContext, mark_path: str, seconds: float) -> int:
    """Write a mark when it starts (so a test knows it is running), then sleep."""
    with Path(mark_path).open("a") as mark:
        mark.write(f"{context.attempt} {os.getpid()}\n")
    time.sleep(seconds)
    return context.attempt


@django_task
def plain_multiply(a: int, b: int) -> int:
    """Defined with Django's own decorator."""
    return a * b


@django_task(max_attempts=2, retry_delay=0)
def plain_with_options() -> None:
    """Django's decorator passing django_taskflow options through."""
    raise RuntimeError("always")
