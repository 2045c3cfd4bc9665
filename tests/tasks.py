"""Module-level tasks the tests enqueue (tasks must be importable by path)."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys
import threading
import time
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from django.db import connection, transaction
from django.tasks import task as django_task

from django_taskflow import (
    Dedup,
    RetryPolicy,
    TaskContext,
    Timeout,
    on_task_complete,
    on_task_start,
    task,
)

if TYPE_CHECKING:
    from django_taskflow.events import TaskEvent


@task
def noop() -> None:
    return None


@task
def add(a: int, b: int) -> int:
    return a + b


@task(priority=0)
def echo(value: object) -> object:
    return value


@task(max_attempts=3, retry=RetryPolicy.fixed(0))
def fail_always(message: str = "boom") -> None:
    raise RuntimeError(message)


@task
def fail_once() -> None:
    raise ValueError("no retries asked for")


@task(takes_context=True, max_attempts=3, retry=RetryPolicy.fixed(0))
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


@task(takes_context=True, max_attempts=3, retry=RetryPolicy.fixed(0))
def record_run(context: TaskContext, log_path: str, seconds: float = 0.0) -> str:
    """Append this task's id to a file, so tests can count real executions."""
    if seconds:
        time.sleep(seconds)
    with Path(log_path).open("a") as log:
        log.write(f"{context.task_id} {context.attempt} {os.getpid()}\n")
    return context.task_id


@task(takes_context=True, max_attempts=3, retry=RetryPolicy.fixed(0))
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


@django_task(max_attempts=2, retry=RetryPolicy.fixed(0))
def plain_with_options() -> None:
    """Django's decorator passing django_taskflow options through."""
    raise RuntimeError("always")


# -- retries, validation, typed results -----------------------------------------


@task(
    max_attempts=5,
    retry=RetryPolicy.fixed(0),
    validator=lambda code: None if code == 200 else code,
    retry_if=lambda error: error != 415,
)
def upload_file(codes: list[int], marker: str) -> int:
    """Secretary's upload example: returns the next status code from ``codes``.

    ``marker`` names a file counting calls, so each attempt takes the next code.
    """
    path = Path(marker)
    calls = int(path.read_text()) if path.exists() else 0
    path.write_text(str(calls + 1))
    code = codes[min(calls, len(codes) - 1)]
    if code < 0:
        raise ConnectionError("network down")
    return code


@task(max_attempts=4, retry=RetryPolicy.exponential(initial_delay=10, max_delay=25, jitter=False))
def fail_with_backoff() -> None:
    raise RuntimeError("try again later")


@task(max_attempts=3, retry=RetryPolicy.fixed(0), dont_retry_on=(PermissionError,))
def refuse_permission() -> None:
    raise PermissionError("not allowed")


@task(max_attempts=3, retry=RetryPolicy.fixed(0), retry_on=(ConnectionError,))
def only_connection_errors_retried(kind: str) -> None:
    raise ConnectionError("flaky") if kind == "connection" else ValueError("bad input")


@task(takes_context=True, max_attempts=3, retry=RetryPolicy.fixed(60))
def asks_to_retry(context: TaskContext) -> int:
    if context.attempt == 1:
        context.retry(countdown=0)
    return context.attempt


@dataclass
class Point:
    x: int
    y: int


@task
def make_point(x: int, y: int) -> Point:
    return Point(x=x, y=y)


@task
def wrong_type() -> int:
    return "not an int"  # type: ignore[return-value]


# -- progress and time limits ----------------------------------------------------


@task(takes_context=True)
def progress_steps(context: TaskContext, steps: int, pause: float) -> str:
    for step in range(1, steps + 1):
        time.sleep(pause)
        context.report_progress(step / steps, step=step)
    return "done"


@task(takes_context=True, tags=["live"])
def progress_messages(context: TaskContext, steps: int, pause: float) -> str:
    for step in range(1, steps + 1):
        time.sleep(pause)
        context.report_progress(step / steps, f"step {step} of {steps}")
    return "done"


def write_soft_mark(context: TaskContext) -> None:
    with Path(context.task_result.args[0]).open("a") as mark:
        mark.write(f"soft {context.attempt}\n")


@task(timeout=Timeout(soft=0.3, hard=None, on_soft_timeout=write_soft_mark))
def outlives_soft_limit(mark_path: str, seconds: float) -> str:
    time.sleep(seconds)
    return "finished anyway"


@task(timeout=Timeout(soft=None, hard=1), max_attempts=2, retry=RetryPolicy.fixed(0))
def never_ends(mark_path: str) -> None:
    with Path(mark_path).open("a") as mark:
        mark.write(f"{os.getpid()}\n")
    while True:
        time.sleep(0.05)


@task(timeout=Timeout(soft=None, hard=1))
def ignores_hard_limit(mark_path: str) -> None:
    """Swallows the hard-timeout exception: only giving up the slot stops it."""
    with Path(mark_path).open("a") as mark:
        mark.write(f"{os.getpid()}\n")
    while True:
        try:
            time.sleep(0.05)
        except BaseException:  # noqa: S112 - the point of this task
            continue


@task(timeout=Timeout(soft=None, hard=1))
def blocks_in_sleep(mark_path: str) -> None:
    """One long C-level sleep: a thread cannot be interrupted inside it."""
    with Path(mark_path).open("a") as mark:
        mark.write(f"{os.getpid()}\n")
    time.sleep(3600)


@task(timeout=Timeout(soft=None, hard=1))
async def async_never_ends(mark_path: str) -> None:
    with Path(mark_path).open("a") as mark:
        mark.write(f"{os.getpid()}\n")
    while True:
        await asyncio.sleep(0.05)


@task(takes_context=True)
async def async_heartbeat(context: TaskContext) -> int:
    context.heartbeat()
    context.extend_lease(60)
    context.report_progress(0.5)
    return context.attempt


# Errors and results the database or the encoder cannot take as they are.


@task(max_attempts=2, retry=RetryPolicy.fixed(0))
def raise_nul_message() -> None:
    raise ValueError("a\x00b")


@task(max_attempts=2, retry=RetryPolicy.fixed(0))
def raise_surrogate_message() -> None:
    name = b"report-\xff.csv".decode("utf-8", "surrogateescape")
    raise FileNotFoundError(f"no such file: {name}")


@task(max_attempts=2, retry=RetryPolicy.fixed(0))
def return_deep_list(depth: int) -> object:
    value: list[object] = []
    for _ in range(depth):
        value = [value]
    return value


@task(takes_context=True)
def report_awkward_progress(context: TaskContext) -> None:
    name = b"report-\xff.csv".decode("utf-8", "surrogateescape")
    context.report_progress(0.5, file=name, nested={"note": "a\x00b", "items": [name]})


# -- worker faults (issue 7) -------------------------------------------------------


@task(takes_context=True, max_attempts=3, retry=RetryPolicy.fixed(0))
def slowed_by_its_start_hook(context: TaskContext, mark_path: str, seconds: float) -> int:
    """Its ``on_task_start`` hook (below) takes 5 s: longer than a short lease."""
    with Path(mark_path).open("a") as mark:
        mark.write(f"{context.attempt} {os.getpid()}\n")
    time.sleep(seconds)
    return context.attempt


@on_task_start
def sleep_on_start_of_slowed_task(event: TaskEvent) -> None:
    if event.task_name == slowed_by_its_start_hook.module_path:
        time.sleep(5)


@task(max_attempts=2, retry=RetryPolicy.fixed(0))
def fails_with_unstorable_text() -> None:
    """A lone surrogate (a filename read with surrogateescape) and a NUL in the message."""
    raise ValueError("cannot open b'caf\udce9.txt'\x00 (NUL follows the name)")


@task(takes_context=True)
def extends_lease_in_a_transaction(context: TaskContext, mark_path: str, release_path: str) -> str:
    """Extend the lease inside an open transaction, then wait for the test."""
    from django_taskflow import models

    with transaction.atomic():
        models.Task.objects.filter(pk=context.task_id).exists()  # the transaction is open
        context.extend_lease(600)
        Path(mark_path).write_text("extended")
        deadline = time.monotonic() + 30
        while not Path(release_path).exists() and time.monotonic() < deadline:
            time.sleep(0.05)
    return "released"


def validate_slowly(value: str) -> None:
    """A validator that signals the test, then takes 3 s."""
    Path(value).write_text("validating")
    time.sleep(3)


@task(validator=validate_slowly)
def validated_slowly(mark_path: str) -> str:
    return mark_path


@task(timeout=Timeout(soft=None, hard=2))
def sleeps_in_sql(mark_path: str) -> None:
    Path(mark_path).write_text("sleeping")
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_sleep(20)")


# -- crashes: lost attempts, on_lost, hard limits from outside ------------------


def _log(path: str, line: str) -> None:
    with Path(path).open("a") as log:  # one short append: atomic across processes
        log.write(f"{line}\n")


@task(takes_context=True)
def log_execution(context: TaskContext, log_path: str, seconds: float) -> None:
    """Default options. Logs its start and its end, so tests can count real executions."""
    _log(log_path, f"start {context.task_id} {context.attempt} {os.getpid()}")
    time.sleep(seconds)
    _log(log_path, f"end {context.task_id} {context.attempt} {os.getpid()}")


@task(takes_context=True, on_lost="fail")
def must_not_run_twice(context: TaskContext, log_path: str, seconds: float) -> None:
    """Work such as a payment: a second run would do harm."""
    _log(log_path, f"start {context.task_id} {context.attempt} {os.getpid()}")
    time.sleep(seconds)
    _log(log_path, f"end {context.task_id} {context.attempt} {os.getpid()}")


@task
def kills_its_own_slot() -> None:
    """Crashes whatever runs it, every time (a segfault, the OOM killer)."""
    os.kill(os.getpid(), signal.SIGKILL)


@task(timeout=Timeout(soft=None, hard=2))
def catastrophic_regex(mark_path: str) -> bool:
    """Holds the GIL in C code for hours: no thread of its process runs meanwhile."""
    with Path(mark_path).open("a") as mark:
        mark.write(f"{os.getpid()}\n")
    return re.match(r"(a+)+$", "a" * 40 + "b") is not None


@task(takes_context=True, max_attempts=2)
def last_attempt_flag(context: TaskContext) -> dict[str, object]:
    return {"attempt": context.attempt, "is_last_attempt": context.is_last_attempt}


@task
def positional_only_with_options(path: str, /, **options: object) -> str:
    return path


@task(takes_context=True)
def exits_its_slot_cleanly(context: TaskContext, log_path: str) -> None:
    """Ends its process with exit code 0 mid-run, as a forked helper or a C library may."""
    _log(log_path, f"start {context.task_id} {context.attempt} {os.getpid()}")
    os._exit(0)


@task(takes_context=True)
def changes_reported_progress(context: TaskContext) -> str:
    """Reports a list as progress, then keeps using the list (as loops do)."""
    done: list[object] = ["a.csv"]
    context.report_progress(0.5, done=done)
    done.append(Path("b.csv"))  # not JSON: it was never reported
    return "done"


class _StrReturnsBytes(Exception):
    def __str__(self) -> str:
        return b"not text"  # type: ignore[return-value]


class _StrRaises(Exception):
    def __str__(self) -> str:
        raise RuntimeError("no text for you")


@task(max_attempts=2, retry=RetryPolicy.fixed(0))
def raise_awkward_error(kind: str) -> None:
    """Errors that are hard to print: whose str() is not text or raises, huge, deeply chained."""
    if kind == "bytes":
        raise _StrReturnsBytes
    if kind == "raises":
        raise _StrRaises
    if kind == "huge":
        raise ValueError("x" * 10_000_000)
    error: BaseException = ValueError("root")
    for depth in range(2_000):
        try:
            raise RuntimeError(f"level {depth}") from error
        except RuntimeError as exc:
            error = exc
    raise error


@task
def blocks_its_completion_hook() -> None:
    """Its ``on_task_complete`` hook (below) never returns."""


@on_task_complete
def never_return_from_completion_hook(event: TaskEvent) -> None:
    if event.task_name == blocks_its_completion_hook.module_path:
        threading.Event().wait()


@task
async def awaits_a_cancelled_task() -> None:
    """Awaits work that was cancelled: ``CancelledError`` is a ``BaseException``."""
    import asyncio

    inner = asyncio.create_task(asyncio.sleep(60))
    await asyncio.sleep(0)
    inner.cancel()
    await inner


class FrameworkExit(BaseException):
    """Like pytest's ``Failed`` or gevent's ``GreenletExit``: not an ``Exception``."""


@task
def raises_a_base_exception() -> None:
    raise FrameworkExit("raised by a framework the task uses")


# -- deduplication (issue 8) ----------------------------------------------------


@task(dedup=Dedup.by_input(ttl=timedelta(minutes=5)))
def deduplicated_add(a: int, b: int = 0) -> int:
    return a + b


@task(dedup=Dedup.by_fields(["user_id"], ttl=timedelta(minutes=5)))
def deduplicated_by_user(user_id: int, note: str = "") -> str:
    return note


@task(dedup=Dedup.by_key(ttl=timedelta(minutes=5)))
def deduplicated_by_key(value: int) -> int:
    return value


@task(dedup=Dedup.by_fields(["user_id"], ttl=timedelta(minutes=5), debounce=timedelta(seconds=2)))
def debounced_record(user_id: int, value: str, log_path: str) -> str:
    _log(log_path, f"{user_id}:{value}")
    return value


@task(unique=True)
def unique_add(a: int, b: int) -> int:
    return a + b


# -- cancellation ----------------------------------------------------------------


@task(takes_context=True)
def stops_when_cancelled(context: TaskContext, log_path: str) -> str:
    """Long work that checks for a cancel between steps, and cleans up."""
    _log(log_path, f"start {context.task_id} {time.time()!r}")
    try:
        for _ in range(1200):
            if context.is_cancelled:
                _log(log_path, f"seen {context.task_id} {time.time()!r}")
            context.check_cancelled()
            time.sleep(0.05)
    finally:
        _log(log_path, f"cleanup {context.task_id}")
    return "finished"


@task
def ignores_cancel(log_path: str) -> str:
    """Never looks at its context: only being stopped for real ends it."""
    _log(log_path, f"start {os.getpid()} {time.time()!r}")
    for _ in range(1200):
        time.sleep(0.05)
    return "finished"


@task(takes_context=True)
def cancels_itself(context: TaskContext) -> str:
    """Cancels its own task, then reports progress, which must raise."""
    from django_taskflow import cancel

    cancel(context.task_id, reason="changed my mind", by="the task")
    context.report_progress(0.5)
    return "not reached"


@task(tags=["reports"], queue_name="reports")
def tagged_report(number: int) -> int:
    return number


@task(max_attempts=3, retry=RetryPolicy.fixed(0))
def always_fails_with_retries() -> None:
    raise RuntimeError("boom")


@task
def swallows_cancel(log_path: str) -> str:
    """Catches even TaskCancelled: only giving up its slot stops it."""
    _log(log_path, f"start {os.getpid()}")
    while True:
        try:
            time.sleep(0.05)
        except BaseException:  # noqa: S112 - the point of this task
            continue


@task
def holds_the_gil(log_path: str) -> bool:
    """Holds the GIL in C code for hours, with no time limit of its own."""
    _log(log_path, f"start {os.getpid()}")
    return re.match(r"(a+)+$", "a" * 40 + "b") is not None


# -- flow control: queue limits, pauses, capabilities ---------------------------


@task
def timed_run(log_path: str, seconds: float) -> None:
    """Logs the instants of its start and its end, to measure how many ran at once."""
    _log(log_path, f"start {time.time():.6f}")
    time.sleep(seconds)
    _log(log_path, f"end {time.time():.6f}")


@task(requires={"gpu"}, takes_context=True)
def needs_gpu(context: TaskContext) -> str:
    return context.worker_id


@django_task(requires={"gpu"})
def plain_needs_gpu() -> str:
    """Django's decorator passing ``requires`` (a plain set) through."""
    return "rendered"


@task
def loaded_modules(names: list[str]) -> list[str]:
    """Which of ``names`` the worker had imported by the time this body ran."""
    return [name for name in names if name in sys.modules]
