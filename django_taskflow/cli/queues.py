"""``taskflow pause``, ``resume``, ``limit`` and ``purge-queue``: steering a queue."""

from __future__ import annotations

from typing import Any

from django_taskflow import operations
from django_taskflow.cli import output
from django_taskflow.cli.backend import backend_options
from django_taskflow.cli.output import Printer


def _report(out: Printer, value: dict[str, Any], text: str) -> None:
    if out.as_json:
        out.write(output.to_json(value))
    else:
        out.say(text)


def pause(out: Printer, *, backend: str, queue: str, **options: Any) -> None:
    """Stop workers from starting tasks of the queue."""
    backend_options(backend)
    operations.pause_queue(queue, backend=backend)
    _report(out, {"queue": queue, "paused": True}, f"queue {queue!r} paused: its queued tasks wait")


def resume(out: Printer, *, backend: str, queue: str, **options: Any) -> None:
    """Let workers start tasks of a paused queue again."""
    backend_options(backend)
    operations.resume_queue(queue, backend=backend)
    _report(out, {"queue": queue, "paused": False}, f"queue {queue!r} resumed")


def limit(out: Printer, *, backend: str, queue: str, limit: int | None, **options: Any) -> None:
    """Cap the queue's running tasks, or go back to the setting's cap."""
    backend_options(backend)
    operations.set_queue_limit(queue, limit, backend=backend)
    text = "the setting's limit" if limit is None else f"at most {limit} running at once"
    _report(out, {"queue": queue, "limit": limit}, f"queue {queue!r}: {text}")


def purge_queue(out: Printer, *, backend: str, queue: str, dry_run: bool, **options: Any) -> None:
    """Delete every queued task of the queue."""
    backend_options(backend)
    count = operations.purge_queue(queue, dry_run=dry_run, backend=backend)
    out.count(
        "would delete" if dry_run else "deleted",
        count,
        "queued task",
        suffix=f" of queue {queue!r}",
        queue=queue,
    )
