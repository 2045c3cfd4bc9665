"""Services under attack without workers: racing starts, strange names and payloads, retention."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.db import connections
from django.utils import timezone

from django_taskflow import models, retention, services
from django_taskflow.exceptions import (
    InvalidService,
    PayloadTooLarge,
    ServiceConflict,
    UnknownService,
    UnserializablePayload,
)
from django_taskflow.services.context import ServiceContext
from tests import services as test_services
from tests.taskflow_command import taskflow


def race(count: int, call: Callable[[int], Any]) -> list[Any]:
    """Run ``call(i)`` in ``count`` threads released at once; return results or exceptions."""
    barrier = threading.Barrier(count)
    outcomes: list[Any] = [None] * count

    def run(index: int) -> None:
        barrier.wait()
        try:
            outcomes[index] = call(index)
        except Exception as exc:
            outcomes[index] = exc
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(index,)) for index in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return outcomes


@pytest.mark.django_db(transaction=True)
def test_racing_starts_of_one_name_with_the_same_config_make_one_service() -> None:
    outcomes = race(6, lambda _: services.start("ride-42", test_services.Echo, log="a"))

    assert all(isinstance(outcome, services.ServiceStatus) for outcome in outcomes), outcomes
    assert models.Service.objects.filter(name="ride-42").count() == 1


@pytest.mark.django_db(transaction=True)
def test_racing_starts_with_different_configs_let_exactly_one_win() -> None:
    outcomes = race(6, lambda index: services.start("ride-42", test_services.Echo, log=str(index)))

    won = [outcome for outcome in outcomes if isinstance(outcome, services.ServiceStatus)]
    lost = [outcome for outcome in outcomes if not isinstance(outcome, services.ServiceStatus)]
    assert len(won) == 1, outcomes
    assert all(isinstance(outcome, ServiceConflict) for outcome in lost), outcomes
    assert services.status("ride-42").config == won[0].config


pytestmark_db = pytest.mark.django_db


@pytest.fixture
def small_payloads(settings: Any) -> None:
    settings.TASKS = {
        "default": {
            "BACKEND": "django_taskflow.backend.TaskflowBackend",
            "OPTIONS": {"MAX_PAYLOAD_BYTES": 1_000},
        }
    }


@pytestmark_db
@pytest.mark.parametrize(
    "name",
    ["", "   ", " ride", "ride\x00", "ride\ud800", "ride/42", "ride\n42", "x" * 201, 42],
    ids=["empty", "blank", "padded", "nul", "surrogate", "slash", "newline", "long", "int"],
)
def test_a_name_no_one_could_address_is_refused_and_nothing_is_written(name: Any) -> None:
    with pytest.raises(InvalidService, match="name"):
        services.start(name, test_services.Echo)
    assert not models.Service.objects.exists()
    # No service can have such a name: asking for one is a plain "unknown".
    for ask in (services.status, services.stop, lambda name: services.send(name, 1)):
        with pytest.raises(UnknownService):
            ask(name)


@pytestmark_db
def test_names_with_spaces_and_unicode_work() -> None:
    for name in ("ride 42", "fahrt-ä-42", "x" * 200):
        services.start(name, test_services.Echo)
        services.send(name, 1)
        assert services.status(name).backlog == 1


@pytestmark_db
@pytest.mark.parametrize(
    ("message", "error"),
    [
        ({"text": "a\x00b"}, UnserializablePayload),
        ({"text": "a\udc80b"}, UnserializablePayload),
        ({"at": timezone.now()}, UnserializablePayload),
        ({"tags": {1, 2}}, UnserializablePayload),
        ({1: "int key"}, UnserializablePayload),
        (float("nan"), UnserializablePayload),
        ("x" * 2_000, PayloadTooLarge),
    ],
    ids=["nul", "surrogate", "datetime", "set", "int-key", "nan", "too-large"],
)
def test_a_message_that_cannot_be_stored_is_refused_at_send(
    message: Any, error: type, small_payloads: None
) -> None:
    services.start("ride-42", test_services.Echo)

    with pytest.raises(error):
        services.send("ride-42", message)
    assert not models.ServiceMessage.objects.exists()


@pytestmark_db
def test_a_deeply_nested_message_is_refused_at_send() -> None:
    services.start("ride-42", test_services.Echo)
    nested: Any = 1
    for _ in range(10_000):
        nested = [nested]

    with pytest.raises(UnserializablePayload, match="deeper"):
        services.send("ride-42", nested)
    assert not models.ServiceMessage.objects.exists()


@pytestmark_db
def test_a_config_or_event_too_large_to_store_is_refused(small_payloads: None) -> None:
    with pytest.raises(PayloadTooLarge):
        services.start("ride-42", test_services.Echo, log="x" * 2_000)
    assert not models.Service.objects.exists()

    services.start("ride-42", test_services.Echo)
    context = ServiceContext(name="ride-42", config={}, owner="host-a")
    with pytest.raises(PayloadTooLarge):
        context.emit({"blob": "x" * 2_000})
    with pytest.raises(UnserializablePayload):
        context.emit({"text": "\x00"})
    assert not models.ServiceEvent.objects.exists()


# -- retention -----------------------------------------------------------------


def _age(queryset: Any, days: int) -> None:
    queryset.update(**{_age_field(queryset.model): timezone.now() - timedelta(days=days)})


def _age_field(model: type) -> str:
    return "stopped_at" if model is models.Service else "created_at"


@pytestmark_db
def test_prune_removes_old_service_events_dead_messages_and_stopped_services() -> None:
    services.start("live", test_services.Echo)
    services.start("gone", test_services.Echo)
    services.send("live", "waits")  # pending: never pruned
    models.ServiceMessage.objects.create(service_id="live", body="old dead", state="dead")
    models.ServiceMessage.objects.create(service_id="live", body="new dead", state="dead")
    context = ServiceContext(name="live", config={}, owner="host-a")
    for number in range(3):
        context.emit({"n": number})
    models.Service.objects.filter(name="gone").update(state="stopped")
    _age(models.Service.objects.filter(name="gone"), 30)
    _age(models.ServiceEvent.objects.filter(data__n__in=[0, 1]), 30)
    _age(models.ServiceMessage.objects.filter(body="old dead"), 30)
    _age(models.ServiceMessage.objects.filter(body="waits"), 30)

    report = retention.prune(timedelta(days=7))

    assert report.services == 1
    assert report.service_events == 2
    assert report.service_messages == 1
    assert list(models.Service.objects.values_list("name", flat=True)) == ["live"]
    assert [event.data for event in models.ServiceEvent.objects.all()] == [{"n": 2}]
    assert sorted(models.ServiceMessage.objects.values_list("body", flat=True)) == [
        "new dead",
        "waits",
    ]


def _ended_a_month_ago(state: str) -> None:
    """A service "gone" that emitted one event and ended (``state``), both a month ago."""
    services.start("gone", test_services.Echo)
    ServiceContext(name="gone", config={}, owner="host-a").emit({"n": 1})
    models.Service.objects.update(state=state)
    _age(models.Service.objects.all(), 30)
    _age(models.ServiceEvent.objects.all(), 30)


@pytestmark_db
def test_a_dry_run_counts_the_service_rows_it_would_prune() -> None:
    _ended_a_month_ago("failed")

    report = retention.prune(timedelta(days=7), dry_run=True)

    assert (report.services, report.service_events) == (1, 1)
    assert models.ServiceEvent.objects.count() == 1


@pytestmark_db
def test_the_prune_command_reports_the_service_rows() -> None:
    _ended_a_month_ago("stopped")

    text = taskflow("prune", "--older-than", "7d")

    assert text.endswith("1 ended service and 1 service event\n"), text
    assert not models.Service.objects.exists()


@pytestmark_db
def test_an_expired_owner_is_taken_over_at_once_with_an_event() -> None:
    from django_taskflow.services import ownership

    services.start("ride-42", test_services.Echo)
    ownership.claim("default", "host-a", limit=1, lease_seconds=300)
    assert ownership.claim("default", "host-b", limit=1, lease_seconds=300) == {}

    assert ownership.expire("default", "host-a") == 1

    assert ownership.claim("default", "host-b", limit=1, lease_seconds=300) == {"ride-42": "host-a"}
    assert [e.kind for e in services.events("ride-42", after=0, follow=False)] == ["taken_over"]
