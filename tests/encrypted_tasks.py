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
