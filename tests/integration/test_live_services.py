"""Services' events over the websocket: who may follow them, and what they receive.

Events are recorded as a service host records them (``ServiceContext.emit``
and ``log.record``), committed, and relayed by the consumer's hub from the
services' event log (no Redis), or published to Redis by the recording
process.
"""

from __future__ import annotations

from typing import Any

import pytest
from channels.db import database_sync_to_async
from django.contrib.auth.models import Permission

from django_taskflow import services
from django_taskflow.live import outbox
from django_taskflow.services import log
from django_taskflow.services.context import ServiceContext
from tests import services as test_services
from tests.integration.test_live_consumer import FRAME_TIMEOUT, connected, run, subscribe

pytestmark = pytest.mark.django_db(transaction=True)


def user_with(django_user_model: Any, name: str, *codenames: str, staff: bool = True) -> Any:
    user = django_user_model.objects.create_user(name, password="x", is_staff=staff)
    user.user_permissions.add(*Permission.objects.filter(codename__in=codenames))
    return django_user_model.objects.get(pk=user.pk)


@pytest.fixture
def watcher(django_user_model: Any) -> Any:
    """Staff who may see services and payload."""
    return user_with(django_user_model, "watcher", "view_service", "view_payload")


def emit(name: str, data: dict[str, Any]) -> None:
    ServiceContext(name=name, config={}, owner="host-a:1:services").emit(data)


async def receive(communicator: Any) -> dict[str, Any]:
    frame: dict[str, Any] = await communicator.receive_json_from(FRAME_TIMEOUT)
    return frame


def test_a_subscriber_receives_what_a_service_emits(watcher: Any) -> None:
    services.start("ride-42", test_services.Echo)
    services.start("ride-43", test_services.Echo)

    async def scenario() -> None:
        communicator = await connected(watcher)
        try:
            reply = await subscribe(communicator, service="ride-42")
            assert reply == {"type": "subscribed", "subscription": {"service": "ride-42"}}
            current = await receive(communicator)
            assert (current["type"], current["event"], current["state"]) == (
                "service",
                "current",
                "running",
            )
            await database_sync_to_async(emit)("ride-43", {"lat": 1.0})  # not followed
            await database_sync_to_async(emit)("ride-42", {"lat": 12.97, "lng": 77.59})
            frame = await receive(communicator)
        finally:
            await communicator.disconnect()
        assert frame["service"] == "ride-42"
        assert (frame["event"], frame["state"]) == ("emitted", "running")
        assert frame["data"] == {"lat": 12.97, "lng": 77.59}
        assert frame["owner"] == "host-a:1:services"
        assert frame["at"]

    run(scenario)


def test_a_user_without_the_view_permission_is_refused_and_receives_nothing(
    django_user_model: Any,
) -> None:
    services.start("ride-42", test_services.Echo)
    staff = user_with(django_user_model, "staff")  # staff, no view_service
    plain = user_with(django_user_model, "plain", "view_service", staff=False)

    async def scenario() -> None:
        for user in (staff, plain):
            communicator = await connected(user)
            try:
                for selector in ({"service": "ride-42"}, {"services": True}):
                    reply = await subscribe(communicator, **selector)
                    assert reply["type"] == "error"
                    assert reply["code"] == "forbidden"
                # "all" is every task the user may see: no service frames come with it.
                assert (await subscribe(communicator, all=True))["type"] == "subscribed"
                await database_sync_to_async(emit)("ride-42", {"lat": 12.97})
                assert await communicator.receive_nothing(timeout=1.5)
            finally:
                await communicator.disconnect()

    run(scenario)


def test_error_messages_are_payload_but_emitted_data_is_not(django_user_model: Any) -> None:
    services.start("ride-42", test_services.Echo)
    viewer = user_with(django_user_model, "viewer", "view_service")  # no view_payload

    def record_events() -> None:
        log.record("default", "ride-42", log.ServiceEventKind.ERROR, data={
            "handler": "on_message", "error": "ValueError: secret 42", "restarts": 1,
        })  # fmt: skip
        emit("ride-42", {"error": "device says no"})

    async def scenario() -> None:
        communicator = await connected(viewer)
        try:
            assert (await subscribe(communicator, services=True))["type"] == "subscribed"
            await database_sync_to_async(record_events)()
            error, emitted = await receive(communicator), await receive(communicator)
        finally:
            await communicator.disconnect()
        assert error["event"] == "error"
        assert error["data"] == {"handler": "on_message", "restarts": 1}
        assert emitted["data"] == {"error": "device says no"}  # what it emitted is its output

    run(scenario)


def test_bad_service_subscriptions_get_an_error(watcher: Any) -> None:
    async def scenario() -> None:
        communicator = await connected(watcher)
        try:
            for selector in ({"service": ""}, {"service": 42}, {"services": "yes"}):
                reply = await subscribe(communicator, **selector)
                assert reply["code"] == "bad_subscription", selector
        finally:
            await communicator.disconnect()

    run(scenario)


def test_service_events_reach_subscribers_through_redis(
    watcher: Any, redis_channel_layer: dict[str, str]
) -> None:
    assert outbox.carried_by_channel_layer()
    services.start("ride-42", test_services.Echo)

    async def scenario() -> None:
        communicator = await connected(watcher)
        try:
            await subscribe(communicator, service="ride-42")
            await receive(communicator)  # its current state
            await database_sync_to_async(emit)("ride-42", {"lat": 12.97})
            frame = await receive(communicator)
        finally:
            await communicator.disconnect()
        assert (frame["event"], frame["data"]) == ("emitted", {"lat": 12.97})

    run(scenario)
