"""The websocket consumer: subscriptions, permissions and frames, with Channels' communicator.

Events are written the way a worker writes them (``run_tasks()`` runs the
worker's slot inline: recorder, notes, outcome events), committed, and the
consumer's hub relays them from the event log, as a web process without
Redis does.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from channels.routing import URLRouter
from channels.security.websocket import AllowedHostsOriginValidator
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import AnonymousUser

from django_taskflow import events, models, operations
from django_taskflow.live import outbox
from django_taskflow.live.routing import websocket_urlpatterns
from django_taskflow.models import EventKind
from django_taskflow.testing import run_tasks
from tests import tasks
from tests.conftest import wait_for

pytestmark = pytest.mark.django_db
# Tests whose events the hub reads back need them committed.
committed = pytest.mark.django_db(transaction=True)

ORIGIN = (b"origin", b"http://localhost")
# Generous: the embedded relay reads within a second even without a wake-up.
FRAME_TIMEOUT = 10


def app_for(user: Any) -> Any:
    """The consumer behind Channels' origin check, with ``user`` as the session's user."""
    router = URLRouter(websocket_urlpatterns)

    async def with_user(scope: dict[str, Any], receive: Any, send: Any) -> Any:
        return await router({**scope, "user": user}, receive, send)

    return AllowedHostsOriginValidator(with_user)


def run(scenario: Callable[[], Awaitable[None]]) -> None:
    async_to_sync(scenario)()


async def connected(user: Any, origin: tuple[bytes, bytes] = ORIGIN) -> WebsocketCommunicator:
    communicator = WebsocketCommunicator(app_for(user), "/ws/taskflow/", headers=[origin])
    accepted, _ = await communicator.connect()
    assert accepted
    return communicator


async def subscribe(communicator: WebsocketCommunicator, **selector: Any) -> dict[str, Any]:
    await communicator.send_json_to({"type": "subscribe", **selector})
    reply: dict[str, Any] = await communicator.receive_json_from(FRAME_TIMEOUT)
    return reply


async def frames_until(
    communicator: WebsocketCommunicator, done: Callable[[dict[str, Any]], bool]
) -> list[dict[str, Any]]:
    """Task frames received until one satisfies ``done`` (included)."""
    received = []
    while True:
        frame = await communicator.receive_json_from(FRAME_TIMEOUT)
        received.append(frame)
        if done(frame):
            return received


def is_end_of(task_id: str) -> Callable[[dict[str, Any]], bool]:
    return lambda frame: frame["task"] == task_id and frame["status"] == "succeeded"


@pytest.fixture
def staff(django_user_model: Any) -> Any:
    return django_user_model.objects.create_user("staff", password="x", is_staff=True)


@pytest.fixture
def user(django_user_model: Any) -> Any:
    return django_user_model.objects.create_user("someone", password="x")


@committed
def test_subscriber_receives_status_and_progress_with_messages(staff: Any) -> None:
    result = tasks.progress_messages.enqueue(2, 0)

    async def scenario() -> None:
        communicator = await connected(staff)
        try:
            reply = await subscribe(communicator, task=result.id)
            assert reply == {"type": "subscribed", "subscription": {"tasks": [result.id]}}
            current = await communicator.receive_json_from(FRAME_TIMEOUT)
            assert current["event"] == "current"
            assert current["status"] == "queued"
            assert current["progress"] is None

            await database_sync_to_async(run_tasks)()
            frames = await frames_until(communicator, is_end_of(result.id))
        finally:
            await communicator.disconnect()

        assert [(f["event"], f["status"], f["progress"], f["message"]) for f in frames] == [
            ("started", "running", None, None),
            ("progress", "running", 0.5, "step 1 of 2"),
            ("progress", "running", 1.0, "step 2 of 2"),
            ("succeeded", "succeeded", None, None),
        ]
        assert {f["task"] for f in frames} == {result.id}
        assert frames[1]["name"] == "tests.tasks.progress_messages"
        assert frames[1]["tags"] == ["live"]
        assert frames[1]["at"]  # ISO 8601, when the task reported it

    run(scenario)


@committed
def test_subscribing_to_a_running_task_gives_its_progress_so_far(staff: Any) -> None:
    result = tasks.progress_messages.enqueue(1, 0)
    task = models.Task.objects.get(pk=result.id)
    models.Task.objects.filter(pk=task.pk).update(status="running", attempts=1, progress=0.25)
    events.record_event(
        task, EventKind.PROGRESS, attempt=1, data={"progress": 0.25, "message": "a quarter"}
    )

    async def scenario() -> None:
        communicator = await connected(staff)
        try:
            await subscribe(communicator, tasks=[result.id])
            current = await communicator.receive_json_from(FRAME_TIMEOUT)
        finally:
            await communicator.disconnect()
        assert (current["status"], current["progress"], current["message"]) == (
            "running",
            0.25,
            "a quarter",
        )

    run(scenario)


def test_anonymous_user_is_refused_at_the_handshake() -> None:
    async def scenario() -> None:
        communicator = WebsocketCommunicator(
            app_for(AnonymousUser()), "/ws/taskflow/", headers=[ORIGIN]
        )
        accepted, _ = await communicator.connect()
        assert not accepted

    run(scenario)


def test_inactive_user_is_refused_at_the_handshake(staff: Any) -> None:
    staff.is_active = False

    async def scenario() -> None:
        communicator = WebsocketCommunicator(app_for(staff), "/ws/taskflow/", headers=[ORIGIN])
        accepted, _ = await communicator.connect()
        assert not accepted

    run(scenario)


def test_other_sites_origin_is_refused(staff: Any) -> None:
    async def scenario() -> None:
        communicator = WebsocketCommunicator(
            app_for(staff), "/ws/taskflow/", headers=[(b"origin", b"http://evil.example")]
        )
        accepted, _ = await communicator.connect()
        assert not accepted

    run(scenario)


@committed
def test_task_the_user_may_not_see_is_refused(user: Any) -> None:
    result = tasks.progress_messages.enqueue(1, 0)

    async def scenario() -> None:
        communicator = await connected(user)
        try:
            reply = await subscribe(communicator, task=result.id)
            assert reply["type"] == "error"
            assert reply["code"] == "forbidden"
            # A task that does not exist gets the same answer: ids are not probed.
            missing = await subscribe(communicator, task="00000000-0000-7000-8000-000000000000")
            assert missing == reply
            await database_sync_to_async(run_tasks)()
            assert await communicator.receive_nothing(timeout=1.5)
        finally:
            await communicator.disconnect()

    run(scenario)


def all_succeeded(task_ids: set[str]) -> Callable[[dict[str, Any]], bool]:
    succeeded: set[str] = set()

    def check(frame: dict[str, Any]) -> bool:
        if frame["status"] == "succeeded":
            succeeded.add(frame["task"])
        return succeeded >= task_ids

    return check


@committed
def test_everything_subscription_shows_only_tasks_the_user_may_see(user: Any, staff: Any) -> None:
    mine = tasks.progress_messages.enqueue(1, 0)
    theirs = tasks.progress_messages.enqueue(1, 0)
    models.Task.objects.filter(pk=mine.id).update(enqueued_by=user)

    async def scenario() -> None:
        as_user = await connected(user)
        as_staff = await connected(staff)
        try:
            assert (await subscribe(as_user, all=True))["type"] == "subscribed"
            assert (await subscribe(as_staff, all=True))["type"] == "subscribed"
            await database_sync_to_async(run_tasks)()
            staff_frames = await frames_until(as_staff, all_succeeded({mine.id, theirs.id}))
            user_frames = await frames_until(as_user, is_end_of(mine.id))
            assert await as_user.receive_nothing(timeout=1.5)
        finally:
            await as_user.disconnect()
            await as_staff.disconnect()
        assert {f["task"] for f in staff_frames} == {mine.id, theirs.id}
        assert {f["task"] for f in user_frames} == {mine.id}

    run(scenario)


@committed
def test_tag_and_name_subscriptions_receive_only_their_tasks(staff: Any) -> None:
    tagged = tasks.progress_messages.using(tags=["uploads"]).enqueue(1, 0)
    other = tasks.progress_messages.enqueue(1, 0)
    named = tasks.noop.enqueue()

    async def scenario() -> None:
        by_tag = await connected(staff)
        by_name = await connected(staff)
        try:
            await subscribe(by_tag, tag="uploads")
            await subscribe(by_name, name="tests.tasks.noop")
            await database_sync_to_async(run_tasks)()
            tag_frames = await frames_until(by_tag, is_end_of(tagged.id))
            name_frames = await frames_until(by_name, is_end_of(named.id))
            assert await by_tag.receive_nothing(timeout=1)
            assert await by_name.receive_nothing(timeout=0.1)
        finally:
            await by_tag.disconnect()
            await by_name.disconnect()
        assert {f["task"] for f in tag_frames} == {tagged.id}
        assert {f["task"] for f in name_frames} == {named.id}
        assert other.id not in {f["task"] for f in tag_frames + name_frames}

    run(scenario)


@pytest.mark.parametrize(
    ("message", "complaint"),
    [
        ("not json", "JSON object"),
        ([1, 2], "JSON object"),
        ({"type": "follow", "task": "x"}, '"type" must be'),
        ({"type": "subscribe"}, "exactly one of"),
        ({"type": "subscribe", "tag": "a", "name": "b"}, "exactly one of"),
        ({"type": "subscribe", "task": "123"}, "must be a UUID"),
        ({"type": "subscribe", "tasks": []}, "non-empty list"),
        ({"type": "subscribe", "all": "yes"}, '"all" must be true'),
        ({"type": "subscribe", "tag": ""}, "must be text"),
        ({"type": "subscribe", "owner": 3}, "Unknown field"),
    ],
)
def test_bad_subscription_message_gets_an_error_frame(
    staff: Any, message: Any, complaint: str
) -> None:
    async def scenario() -> None:
        communicator = await connected(staff)
        try:
            if isinstance(message, str):
                await communicator.send_to(text_data=message)
            else:
                await communicator.send_json_to(message)
            reply = await communicator.receive_json_from(FRAME_TIMEOUT)
            assert reply["type"] == "error"
            assert reply["code"] == "bad_subscription"
            assert complaint in reply["message"]
            # The socket stays open and takes a good subscription next.
            assert (await subscribe(communicator, all=True))["type"] == "subscribed"
        finally:
            await communicator.disconnect()

    run(scenario)


@committed
def test_unsubscribe_stops_the_frames(staff: Any) -> None:
    tasks.noop.enqueue()

    async def scenario() -> None:
        communicator = await connected(staff)
        try:
            await subscribe(communicator, all=True)
            await communicator.send_json_to({"type": "unsubscribe"})
            assert await communicator.receive_json_from(FRAME_TIMEOUT) == {"type": "unsubscribed"}
            await database_sync_to_async(run_tasks)()
            assert await communicator.receive_nothing(timeout=1.5)
        finally:
            await communicator.disconnect()

    run(scenario)


@committed
def test_events_reach_subscribers_through_redis(
    staff: Any, redis_channel_layer: dict[str, str]
) -> None:
    # Workers publish to the Redis layer themselves; the hub follows its group.
    assert outbox.carried_by_channel_layer()
    result = tasks.progress_messages.enqueue(2, 0)

    async def scenario() -> None:
        communicator = await connected(staff)
        try:
            await subscribe(communicator, task=result.id)
            await communicator.receive_json_from(FRAME_TIMEOUT)  # its current state
            await database_sync_to_async(run_tasks)()
            frames = await frames_until(communicator, is_end_of(result.id))
        finally:
            await communicator.disconnect()
        assert [(f["event"], f["progress"], f["message"]) for f in frames] == [
            ("started", None, None),
            ("progress", 0.5, "step 1 of 2"),
            ("progress", 1.0, "step 2 of 2"),
            ("succeeded", None, None),
        ]

    run(scenario)


def test_project_asgi_app_authenticates_by_the_session_cookie(staff: Any, client: Any) -> None:
    from testproject.asgi import application

    client.force_login(staff)
    cookie = f"sessionid={client.cookies['sessionid'].value}".encode()

    async def scenario() -> None:
        signed_in = WebsocketCommunicator(
            application, "/ws/taskflow/", headers=[ORIGIN, (b"cookie", cookie)]
        )
        anonymous = WebsocketCommunicator(application, "/ws/taskflow/", headers=[ORIGIN])
        try:
            assert (await signed_in.connect())[0]
            assert (await subscribe(signed_in, all=True))["type"] == "subscribed"
            assert not (await anonymous.connect())[0]
        finally:
            await signed_in.disconnect()

    run(scenario)


@committed
def test_relay_goes_on_after_the_database_fails_a_read(
    staff: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from django.db import OperationalError

    read = events.EventStream.read
    failures = iter([OperationalError("server closed the connection")])

    def failing_once(stream: events.EventStream, cursor: Any) -> Any:
        for error in failures:
            raise error
        return read(stream, cursor)

    monkeypatch.setattr(events.EventStream, "read", failing_once)
    result = tasks.noop.enqueue()

    async def scenario() -> None:
        communicator = await connected(staff)
        try:
            await subscribe(communicator, all=True)
            await database_sync_to_async(run_tasks)()
            frames = await frames_until(communicator, is_end_of(result.id))
        finally:
            await communicator.disconnect()
        assert [f["event"] for f in frames] == ["started", "succeeded"]

    run(scenario)


def test_unreachable_redis_is_logged_and_tasks_still_run(
    settings: Any, caplog: pytest.LogCaptureFixture
) -> None:
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            # Nothing listens on port 1.
            "CONFIG": {"hosts": ["redis://127.0.0.1:1/0"], "prefix": "taskflow-unreachable"},
        }
    }
    result = tasks.noop.enqueue()

    assert run_tasks() == 1

    assert models.Task.objects.get(pk=result.id).status == "succeeded"
    wait_for(lambda: any(r.action == "live_publish_failed" for r in caplog.records), timeout=30)


@committed
@pytest.mark.parametrize("carrier", ["event_log", "redis"])
def test_a_task_cancelled_from_the_web_process_turns_cancelled_live(
    staff: Any, carrier: str, request: pytest.FixtureRequest
) -> None:
    if carrier == "redis":
        request.getfixturevalue("redis_channel_layer")
    result = tasks.noop.enqueue()

    async def scenario() -> None:
        communicator = await connected(staff)
        try:
            await subscribe(communicator, task=result.id)
            assert (await communicator.receive_json_from(FRAME_TIMEOUT))["status"] == "queued"
            await database_sync_to_async(operations.cancel)(result.id, reason="not needed")
            frame = await communicator.receive_json_from(FRAME_TIMEOUT)
        finally:
            await communicator.disconnect()
        assert (frame["task"], frame["event"], frame["status"]) == (
            result.id,
            "cancelled",
            "cancelled",
        )

    run(scenario)
