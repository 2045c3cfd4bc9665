"""Subscriptions: what a websocket client may ask to follow, and which frames match."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from django_taskflow.live.subscriptions import (
    MAX_TASKS,
    BadSubscription,
    Subscription,
    parse,
)

TASK = str(uuid.uuid4())


def frame(task: str = TASK, name: str = "app.tasks.upload", tags: list[str] | None = None) -> Any:
    return {"task": task, "name": name, "tags": tags or []}


def test_each_selector_parses_to_its_subscription() -> None:
    assert parse({"type": "subscribe", "task": TASK.upper()}).subscription == Subscription(
        tasks=frozenset([TASK])
    )
    assert parse({"type": "subscribe", "tasks": [TASK]}).subscription == Subscription(
        tasks=frozenset([TASK])
    )
    assert parse({"type": "subscribe", "tag": "uploads"}).subscription == Subscription(
        tag="uploads"
    )
    assert parse({"type": "subscribe", "name": "a.b"}).subscription == Subscription(name="a.b")
    assert parse({"type": "subscribe", "all": True}).subscription == Subscription()
    assert parse({"type": "unsubscribe"}).action == "unsubscribe"


def test_subscriptions_match_their_tasks_only() -> None:
    other = str(uuid.uuid4())
    assert Subscription(tasks=frozenset([TASK])).matches(frame())
    assert not Subscription(tasks=frozenset([TASK])).matches(frame(task=other))
    assert Subscription(tag="uploads").matches(frame(tags=["x", "uploads"]))
    assert not Subscription(tag="uploads").matches(frame(tags=["x"]))
    assert Subscription(name="app.tasks.upload").matches(frame())
    assert not Subscription(name="app.tasks").matches(frame())
    assert Subscription().matches(frame(task=other, tags=["x"]))


def test_too_many_task_ids_are_refused() -> None:
    ids = [str(uuid.uuid4()) for _ in range(MAX_TASKS + 1)]
    with pytest.raises(BadSubscription, match=f"at most {MAX_TASKS} ids"):
        parse({"type": "subscribe", "tasks": ids})


def test_error_messages_cut_what_the_client_sent() -> None:
    with pytest.raises(BadSubscription) as raised:
        parse({"type": "subscribe", "task": "x" * 10_000})
    assert len(str(raised.value)) < 120


def test_describe_gives_back_the_subscription() -> None:
    assert Subscription(tasks=frozenset([TASK])).describe() == {"tasks": [TASK]}
    assert Subscription(tag="t").describe() == {"tag": "t"}
    assert Subscription().describe() == {"all": True}


def service_frame(name: str = "ride-42") -> Any:
    return {"type": "service", "service": name, "event": "emitted", "data": {}}


def test_service_subscriptions_match_service_frames_only() -> None:
    one = parse({"type": "subscribe", "service": "ride-42"}).subscription
    every = parse({"type": "subscribe", "services": True}).subscription
    assert one == Subscription(service="ride-42")
    assert every == Subscription(services=True)
    assert one.matches(service_frame())
    assert not one.matches(service_frame("ride-43"))
    assert every.matches(service_frame("ride-43"))
    assert not one.matches({"type": "task", **frame()})
    assert not every.matches({"type": "task", **frame()})
    # "all" is every task: services are followed by their own selectors.
    assert not Subscription().matches(service_frame())
    assert not Subscription(tag="uploads").matches(service_frame())
    assert one.describe() == {"service": "ride-42"}
    assert every.describe() == {"services": True}


@pytest.mark.parametrize(
    "message",
    [{"service": ""}, {"service": " "}, {"service": 42}, {"service": "x" * 201},
     {"services": False}, {"services": "yes"}, {"service": "a", "services": True}],
)  # fmt: skip
def test_bad_service_selectors_are_refused(message: dict[str, Any]) -> None:
    with pytest.raises(BadSubscription):
        parse({"type": "subscribe", **message})
