"""The event stream follows real workers whose recorders commit concurrently."""

from __future__ import annotations

from collections import defaultdict

import pytest

from django_taskflow import events, models
from tests import tasks
from tests.conftest import WorkerProcesses

pytestmark = pytest.mark.processes

TASKS = 600


def test_stream_sees_every_event_of_concurrent_workers_once_and_in_order(
    workers: WorkerProcesses,
) -> None:
    latest = models.Event.objects.order_by("-id").first()
    stream = events.stream(after=latest.pk if latest else 0, timeout=120)
    ids = {result.id for result in tasks.noop.enqueue_many([()] * TASKS)}
    workers.start("--concurrency", "2")
    workers.start("--concurrency", "2")
    kinds: dict[str, list[str]] = defaultdict(list)
    seen: list[int] = []
    finished = 0
    for event in stream:
        kinds[event.task_id].append(event.kind)
        seen.append(event.id or 0)
        finished += event.kind == "succeeded"
        if finished == TASKS:
            break
    assert set(kinds) == ids
    odd = {task_id: k for task_id, k in kinds.items() if k != ["started", "succeeded"]}
    assert not odd
    assert len(seen) == len(set(seen)) == 2 * TASKS
