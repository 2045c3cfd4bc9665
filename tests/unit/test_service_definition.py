"""``@service`` options and the pure failure decisions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from django_taskflow import service
from django_taskflow.exceptions import InvalidService
from django_taskflow.services import failures
from django_taskflow.services.definition import definition_of
from tests import services as test_services


def test_the_definition_keeps_its_options_and_import_path() -> None:
    definition = definition_of(test_services.Echo)
    assert definition.path == "tests.services.Echo"
    assert definition.tick_seconds == 0.5
    assert (definition.max_restarts, definition.restart_window_seconds) == (5, 600.0)
    assert definition_of(test_services.RefusesOdd).max_deliveries == 2


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"tick": 0}, "tick must be a positive duration"),
        ({"tick": timedelta(seconds=-1)}, "tick must be a positive duration"),
        ({"max_restarts": 0}, "max_restarts must be a whole number of at least 1, got 0"),
        ({"max_deliveries": 1.5}, "max_deliveries must be a whole number"),
        ({"restart_window": "10m"}, "restart_window must be a positive duration"),
    ],
)
def test_bad_options_are_refused_where_given(options: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidService, match=message):
        service(**options)  # type: ignore[arg-type]


def test_a_class_defined_in_a_function_is_refused() -> None:
    with pytest.raises(InvalidService, match="module level"):

        @service()
        class Local:
            pass


def test_backoff_doubles_up_to_a_minute() -> None:
    assert [failures.backoff(n) for n in (1, 2, 3, 4)] == [0.5, 1.0, 2.0, 4.0]
    assert failures.backoff(50) == 60.0


def test_only_failures_inside_the_window_count() -> None:
    now = datetime(2026, 1, 1, 12, tzinfo=UTC)
    old = (now - timedelta(minutes=11)).isoformat()
    recent = (now - timedelta(minutes=1)).isoformat()
    assert failures.restart_times([old, recent], now, 600) == [recent, now.isoformat()]


@pytest.mark.parametrize("value", ["0", "-1", "four"])
def test_taskworker_refuses_a_bad_max_services(value: str) -> None:
    from django.core.management import CommandError, call_command

    with pytest.raises(CommandError, match="max-services"):
        call_command("taskworker", "--max-services", value)


def test_worker_options_refuse_a_bad_max_services() -> None:
    from django_taskflow.exceptions import ConfigurationError
    from django_taskflow.worker.options import WorkerOptions

    with pytest.raises(ConfigurationError, match="max_services must be at least 1, got 0"):
        WorkerOptions(max_services=0)
