"""Services without workers: starting, sending, stopping, leases, events, and the admin."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth.models import Permission, User
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from django_taskflow import events, models, operations, services
from django_taskflow.exceptions import (
    InvalidService,
    ServiceConflict,
    ServiceNotRunning,
    UnknownService,
    UnserializablePayload,
)
from django_taskflow.services import ownership
from tests import services as test_services

pytestmark = pytest.mark.django_db

SERVICES = "admin:django_taskflow_service_changelist"
MESSAGES = "admin:django_taskflow_servicemessage_changelist"


def test_start_stores_the_service_waiting_for_an_owner() -> None:
    status = services.start("ride-42", test_services.Echo, log="/dev/null")

    assert status.state == "running"
    assert status.service_path == "tests.services.Echo"
    assert status.config == {"log": "/dev/null"}
    assert status.owner == ""
    assert status.backlog == 0


def test_starting_a_running_service_again_returns_its_status_with_the_same_config() -> None:
    services.start("ride-42", test_services.Echo, log="a")
    again = services.start("ride-42", "tests.services.Echo", log="a")

    assert again.state == "running"
    assert models.Service.objects.count() == 1


def test_starting_a_running_service_with_another_config_raises() -> None:
    services.start("ride-42", test_services.Echo, log="a")

    with pytest.raises(ServiceConflict, match="ride-42"):
        services.start("ride-42", test_services.Echo, log="b")
    with pytest.raises(ServiceConflict):
        services.start("ride-42", test_services.RefusesOdd)
    assert services.status("ride-42").config == {"log": "a"}


def test_a_stopped_service_starts_afresh() -> None:
    services.start("ride-42", test_services.Echo, log="a")
    models.Service.objects.filter(name="ride-42").update(
        state="failed", restarts=5, errors=[{"message": "x"}]
    )

    status = services.start("ride-42", test_services.Echo, log="b")

    assert (status.state, status.config, status.restarts, status.errors) == (
        "running",
        {"log": "b"},
        0,
        [],
    )


@pytest.mark.parametrize(
    ("service", "config", "error"),
    [
        (object, {}, InvalidService),
        ("tests.services.missing", {}, UnknownService),
        ("tests.tasks.add", {}, UnknownService),
        (test_services.Echo, {"log": {1, 2}}, UnserializablePayload),
    ],
)
def test_bad_input_to_start_raises_and_writes_nothing(
    service: object, config: dict[str, object], error: type[Exception]
) -> None:
    with pytest.raises(error):
        services.start("bad", service, **config)  # type: ignore[arg-type]
    assert not models.Service.objects.exists()


def test_a_bad_name_is_refused() -> None:
    with pytest.raises(InvalidService, match="name"):
        services.start("", test_services.Echo)
    with pytest.raises(InvalidService, match="name"):
        services.start("x" * 201, test_services.Echo)


def test_send_stores_messages_in_order_and_counts_the_backlog() -> None:
    services.start("ride-42", test_services.Echo)
    ids = [services.send("ride-42", {"n": n}) for n in range(3)]

    assert ids == sorted(ids)
    assert [m.body for m in models.ServiceMessage.objects.order_by("id")] == [
        {"n": 0},
        {"n": 1},
        {"n": 2},
    ]
    assert services.status("ride-42").backlog == 3


def test_send_refuses_unknown_stopped_and_unserialisable() -> None:
    with pytest.raises(UnknownService):
        services.send("nobody", 1)
    services.start("ride-42", test_services.Echo)
    with pytest.raises(UnserializablePayload):
        services.send("ride-42", {"at": timezone.now()})
    services.stop("ride-42")
    with pytest.raises(ServiceNotRunning, match="stopping"):
        services.send("ride-42", 1)
    assert not models.ServiceMessage.objects.exists()


def test_stop_asks_a_running_service_and_leaves_a_finished_one() -> None:
    services.start("ride-42", test_services.Echo)
    assert services.stop("ride-42").state == "stopping"
    models.Service.objects.update(state="failed")
    assert services.stop("ride-42").state == "failed"
    with pytest.raises(UnknownService):
        services.stop("nobody")


def test_restart_starts_a_failed_service_with_its_config_and_refuses_a_running_one() -> None:
    services.start("ride-42", test_services.Echo, log="a")
    with pytest.raises(ServiceConflict):
        services.restart("ride-42")
    models.Service.objects.update(state="failed", restarts=5)

    status = services.restart("ride-42")

    assert (status.state, status.config, status.restarts) == ("running", {"log": "a"}, 0)


def test_one_of_two_hosts_claims_a_free_service() -> None:
    services.start("ride-42", test_services.Echo)

    first = ownership.claim("default", "host-a", limit=4, lease_seconds=30)
    second = ownership.claim("default", "host-b", limit=4, lease_seconds=30)

    assert (first, second) == ({"ride-42": ""}, {})
    assert services.status("ride-42").owner == "host-a"
    assert ownership.renew("default", "host-b", ["ride-42"], 30) == set()
    assert ownership.renew("default", "host-a", ["ride-42"], 30) == {"ride-42"}


def test_a_service_whose_lease_expired_is_taken_over_with_an_event() -> None:
    services.start("ride-42", test_services.Echo)
    ownership.claim("default", "host-a", limit=1, lease_seconds=30)
    models.Service.objects.update(lease_expires_at=timezone.now() - timedelta(seconds=1))

    assert ownership.claim("default", "host-b", limit=1, lease_seconds=30) == {"ride-42": "host-a"}

    taken = list(events.stream(service="ride-42", after=0, follow=False))
    assert [(e.kind, e.owner, e.data) for e in taken] == [
        ("taken_over", "host-b", {"previous_owner": "host-a"})
    ]
    assert ownership.renew("default", "host-a", ["ride-42"], 30) == set()


def test_a_host_claims_no_more_than_its_limit_and_releases() -> None:
    for name in ("a", "b", "c"):
        services.start(name, test_services.Echo)

    assert ownership.claim("default", "host-a", limit=2, lease_seconds=30) == {"a": "", "b": ""}
    assert ownership.release("default", "host-a", ["a"]) == 1
    assert ownership.claim("default", "host-b", limit=5, lease_seconds=30) == {"a": "", "c": ""}
    assert not list(events.stream(service="a", after=0, follow=False))


def test_service_events_reach_signals_once_committed_and_streams(
    django_capture_on_commit_callbacks: Any,
) -> None:
    from django_taskflow import signals
    from django_taskflow.services.context import ServiceContext

    heard = []

    def receiver(sender: object, event: object, **kwargs: object) -> None:
        heard.append(event)

    signals.service_event.connect(receiver)
    try:
        services.start("ride-42", test_services.Echo)
        context = ServiceContext(name="ride-42", config={}, owner="host-a")
        with pytest.raises(UnserializablePayload):
            context.emit({"at": timezone.now()})
        with pytest.raises(UnserializablePayload):
            context.emit([1, 2])  # type: ignore[arg-type]
        with django_capture_on_commit_callbacks(execute=True):
            context.emit({"lat": 12.97})
            assert heard == []  # not before the commit
    finally:
        signals.service_event.disconnect(receiver)

    streamed = list(services.events("ride-42", after=0, follow=False))
    assert [(e.kind, e.data) for e in streamed] == [("emitted", {"lat": 12.97})]
    assert [e.data for e in heard] == [{"lat": 12.97}]  # type: ignore[attr-defined]


@pytest.fixture
def staff_with() -> Callable[..., Client]:
    def make(*codenames: str) -> Client:
        user = User.objects.create_user(f"op{User.objects.count()}", is_staff=True)
        user.user_permissions.add(*Permission.objects.filter(codename__in=codenames))
        client = Client()
        client.force_login(user)
        return client

    return make


def test_the_admin_lists_services_with_state_backlog_and_dead_messages(
    staff_with: Callable[..., Client],
) -> None:
    services.start("ride-42", test_services.Echo)
    services.send("ride-42", 1)
    models.ServiceMessage.objects.create(service_id="ride-42", body=2, state="dead")
    client = staff_with("view_service", "view_servicemessage")

    page = client.get(reverse(SERVICES)).content.decode()
    assert "ride-42" in page and "Running" in page
    dead = client.get(reverse(MESSAGES), {"state__exact": "dead"})
    assert dead.status_code == 200
    assert dead.context["cl"].result_count == 1


def test_only_staff_with_the_steer_permission_can_stop_a_service(
    staff_with: Callable[..., Client],
) -> None:
    services.start("ride-42", test_services.Echo)
    data = {"action": "stop_services", "_selected_action": ["ride-42"]}

    viewer = staff_with("view_service")
    viewer.post(reverse(SERVICES), data)
    assert services.status("ride-42").state == "running"

    steerer = staff_with("view_service", "steer_service")
    steerer.post(reverse(SERVICES), data)
    assert services.status("ride-42").state == "stopping"


def test_the_admin_restarts_a_failed_service_and_explains_a_refusal(
    staff_with: Callable[..., Client],
) -> None:
    services.start("failed", test_services.Echo)
    services.start("running", test_services.Echo)
    models.Service.objects.filter(name="failed").update(state="failed")
    client = staff_with("view_service", "steer_service")

    response = client.post(
        reverse(SERVICES),
        {"action": "restart_services", "_selected_action": ["failed", "running"]},
        follow=True,
    )

    assert services.status("failed").state == "running"
    notes = [str(m) for m in response.context["messages"]]
    assert any("failed: restarted" in note for note in notes)
    assert any("stop it before restarting" in note for note in notes)


def test_operations_steer_services_by_name() -> None:
    services.start("ride-42", test_services.Echo)
    assert operations.stop_service("ride-42", by="ops").state == "stopping"
    models.Service.objects.update(state="stopped")
    assert operations.restart_service("ride-42", by="ops").state == "running"
