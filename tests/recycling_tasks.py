"""Tasks for the slot recycling tests: they report their slot, and one leaks memory."""

from __future__ import annotations

import os
from pathlib import Path

from django_taskflow import TaskContext, task

# What ``leak`` keeps: it grows with each run in the same process, as a leak does.
_KEPT: list[bytes] = []


@task(takes_context=True)
def report_slot(context: TaskContext, log_path: str) -> int:
    """Log this task's id, attempt, process and worker id; one line per run."""
    with Path(log_path).open("a") as log:
        log.write(f"{context.task_id} {context.attempt} {os.getpid()} {context.worker_id}\n")
    return os.getpid()


@task(takes_context=True)
def leak(context: TaskContext, megabytes: int, log_path: str) -> int:
    """Keep ``megabytes`` of touched memory for the rest of the process's life."""
    _KEPT.append(os.urandom(megabytes * 1024 * 1024))
    with Path(log_path).open("a") as log:
        log.write(f"{context.task_id} {context.attempt} {os.getpid()} {context.worker_id}\n")
    return os.getpid()
