"""Queues: weights, limits, pauses and capabilities (docs/howto/queues.md)."""

from __future__ import annotations

from django_taskflow import Queue, task

SENT: list[str] = []  # stand-in for a mail provider
FRAMES: list[str] = []  # stand-in for a GPU renderer


@task(queue_name=Queue.CRITICAL)
def send_password_reset(address: str) -> None:
    SENT.append(f"reset:{address}")


@task(queue_name=Queue.LOW)
def rebuild_search_index() -> None:
    pass


@task(queue_name="emails")
def send_newsletter(address: str) -> None:
    # The provider accepts 5 connections: QUEUE_LIMITS caps the queue.
    SENT.append(f"newsletter:{address}")


@task(requires={"gpu"})
def render_frame(scene: str) -> str:
    # Runs only on a worker started with --capabilities gpu (or more).
    FRAMES.append(scene)
    return f"rendered {scene}"
