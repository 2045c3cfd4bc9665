"""Which way live events travel: by the channel layer only when it crosses processes."""

from __future__ import annotations

from typing import Any

import pytest

from django_taskflow.live import outbox

REDIS = {"BACKEND": "channels_redis.core.RedisChannelLayer", "CONFIG": {"hosts": []}}
IN_MEMORY = {"BACKEND": "channels.layers.InMemoryChannelLayer"}


@pytest.mark.parametrize(
    ("layers", "carried"),
    [({}, False), ({"default": IN_MEMORY}, False), ({"default": REDIS}, True)],
)
def test_events_travel_by_a_channel_layer_only_across_processes(
    settings: Any, layers: dict[str, Any], carried: bool
) -> None:
    settings.CHANNEL_LAYERS = layers

    assert outbox.carried_by_channel_layer() is carried


def test_without_a_shared_layer_publishing_starts_no_thread(settings: Any) -> None:
    settings.CHANNEL_LAYERS = {"default": IN_MEMORY}
    before = outbox._current

    outbox.publish([object()])  # type: ignore[list-item]  # never looked at

    assert outbox._current is before
