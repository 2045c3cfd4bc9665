"""Module-level encrypted tasks the tests enqueue (tasks must be importable by path)."""

from __future__ import annotations

import time
from dataclasses import dataclass

from django_taskflow import RetryPolicy, TaskContext, task


@dataclass(frozen=True)
class Patient:
    name: str
    diagnosis: str


@task(encrypted=True)
def treat(patient: Patient, *, ward: str) -> str:
    return f"treated {patient.name} ({patient.diagnosis}) in {ward}"


@task(encrypted=True, encoder="compressed")
def archive(note: str) -> str:
    return note.upper()


@task(encrypted=True)
def slow_secret(secret: str, seconds: float) -> str:
    time.sleep(seconds)
    return f"done with {secret}"


@task(encrypted=True, takes_context=True)
def leaky(context: TaskContext, secret: str) -> None:
    """Puts its secret in a progress detail and in its error: both must be stored sealed."""
    context.report_progress(0.5, note=f"working on {secret}")
    raise ValueError(f"failed on {secret}")


@task(encrypted=True, takes_context=True, max_attempts=2, retry=RetryPolicy.fixed(0))
def confide(context: TaskContext, secret: str) -> None:
    """Reports a progress message and fails twice (a retry, then for good), its secret in each."""
    context.report_progress(0.5, f"reading {secret}", step=secret)
    raise ValueError(f"failed on {secret}")


@task(encrypted=True, takes_context=True)
def odd_texts(context: TaskContext, secret: str) -> None:
    """Reports progress and fails with text the database cannot hold as it is: NUL, a lone surrogate."""
    context.report_progress(0.5, f"at {secret}\x00\udcff", file=f"\udcff{secret}\x00")
    raise ValueError(f"failed on {secret}\x00\udcff")


@task(encrypted=True)
def secret_result(secret: str) -> str:
    return f"result of {secret}"


@task
def plain_echo(text: str) -> str:
    return text


@task(encrypted=True, encoder="compressed", api=True)
def archive_by_api(note: str) -> int:
    return len(note)


@task(encrypted=True, api=True)
def treat_by_api(note: str) -> int:
    return len(note)


@task(encrypted=True)
def repeat(text: str, times: int) -> str:
    return text * times


@task(takes_context=True)
def spawns_a_secret_child(context: TaskContext) -> None:
    context.spawn(secret_result.s("child-secret"))


@task(encrypted=True)
def sealed_report() -> str:
    """Takes no arguments, so it can be scheduled: a schedule's row holds its arguments in clear."""
    return "the report"
