"""Live progress from a real worker process to a websocket client."""

from __future__ import annotations

from typing import Any

import pytest
from asgiref.sync import async_to_sync
from channels.testing import WebsocketCommunicator

from tests import tasks
from tests.conftest import WorkerProcesses
from tests.integration.test_live_consumer import (
    FRAME_TIMEOUT,
    connected,
    frames_until,
    is_end_of,
    subscribe,
)

pytestmark = pytest.mark.processes


@pytest.fixture
def staff(django_user_model: Any) -> Any:
    return django_user_model.objects.create_user("staff", password="x", is_staff=True)


def follow_worker(
    staff: Any, workers: WorkerProcesses, env: dict[str, str]
) -> list[dict[str, Any]]:
    """Subscribe to a task, start a worker that runs it; return the frames it pushed."""
    result = tasks.progress_messages.enqueue(3, 0.05)

    async def scenario() -> list[dict[str, Any]]:
        communicator: WebsocketCommunicator = await connected(staff)
        try:
            await subscribe(communicator, task=result.id)
            await communicator.receive_json_from(FRAME_TIMEOUT)  # its current state: queued
            workers.start("--burst", extra_env=env)
            return await frames_until(communicator, is_end_of(result.id))
        finally:
            await communicator.disconnect()

    frames: list[dict[str, Any]] = async_to_sync(scenario)()
    return frames


def progress_of(frames: list[dict[str, Any]]) -> list[tuple[str, Any, Any]]:
    return [(f["event"], f["progress"], f["message"]) for f in frames]


EXPECTED = [
    ("started", None, None),
    ("progress", pytest.approx(1 / 3), "step 1 of 3"),
    ("progress", pytest.approx(2 / 3), "step 2 of 3"),
    ("progress", 1.0, "step 3 of 3"),
    ("succeeded", None, None),
]


def test_worker_progress_reaches_the_websocket_through_the_event_log(
    staff: Any, workers: WorkerProcesses
) -> None:
    assert progress_of(follow_worker(staff, workers, {})) == EXPECTED


def test_worker_progress_reaches_the_websocket_through_redis(
    staff: Any, workers: WorkerProcesses, redis_channel_layer: dict[str, str]
) -> None:
    assert progress_of(follow_worker(staff, workers, redis_channel_layer)) == EXPECTED
