"""Tasks the flow tests run as steps (module level, so workers import them)."""

from __future__ import annotations

import os
import time
from pathlib import Path

from django_taskflow import RetryPolicy, TaskContext, task


@task
def start(value: int) -> int:
    return value


@task
def add_one(number: int) -> int:
    return number + 1


@task
def times(number: int, factor: int) -> int:
    return number * factor


@task
def with_previous(label: str, previous: object) -> dict[str, object]:
    return {"label": label, "previous": previous}


@task
def square(index: int, previous: int) -> int:
    return index * index + previous


@task
def collect(values: list[int]) -> list[int]:
    return values


@task
def fail_if_file(path: str, previous: int) -> int:
    if Path(path).exists():
        raise RuntimeError(f"{path} exists")
    return previous + 100


@task(max_attempts=2, retry=RetryPolicy.fixed(0))
def fail_for_good(previous: object = None) -> None:
    raise ValueError("no good")


@task(takes_context=True, max_attempts=3, retry=RetryPolicy.fixed(0))
def fail_first_attempt(context: TaskContext, previous: int) -> int:
    if context.attempt == 1:
        raise ConnectionError("first attempt fails")
    return previous * 2


@task
def log_call(path: str, previous: object = None) -> None:
    """Append one line per call: how tests count that a callback ran once."""
    with Path(path).open("a") as log:
        log.write(f"{os.getpid()} {previous!r}\n")


@task(max_attempts=2, retry=RetryPolicy.fixed(0))
def item(number: int) -> int:
    if number % 10 == 7:
        raise ValueError(f"item {number} fails")
    return number * 2


@task
def sleep_then(seconds: float, previous: object) -> object:
    time.sleep(seconds)
    return previous


@task(takes_context=True)
def sleep_cancellable(
    context: TaskContext, seconds: float, mark: str = "", previous: object = None
) -> str:
    if mark:
        Path(mark).write_text("started")
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        context.check_cancelled()
        time.sleep(0.05)
    return "slept"


@task(takes_context=True)
def stall_first_attempt(context: TaskContext, mark: str, previous: int) -> int:
    """Write ``mark`` and hang on the first attempt (its worker is killed then)."""
    if context.attempt == 1:
        Path(mark).write_text(str(os.getpid()))
        time.sleep(120)
    return previous


@task(takes_context=True, max_attempts=2, retry=RetryPolicy.fixed(0))
def spawn_then_fail_once(context: TaskContext, count: int) -> int:
    """Spawn ``count`` children each attempt; the first attempt then fails."""
    for index in range(count):
        context.spawn(times.s(index, context.attempt))
    if context.attempt == 1:
        raise RuntimeError("the first attempt fails after spawning")
    return count


@task(takes_context=True)
def spawn_bad_child(context: TaskContext) -> None:
    context.enqueue(times, 1, 2, 3)


@task(takes_context=True)
def fails_first_time(context: TaskContext, previous: int) -> int:
    """No retries of its own: only a flow's max_attempts lets it succeed."""
    if context.attempt == 1:
        raise ConnectionError("first attempt fails")
    return previous
