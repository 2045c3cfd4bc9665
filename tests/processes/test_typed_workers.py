"""Typed payloads through a real worker process, which shares only the database."""

from __future__ import annotations

import datetime
import decimal
import uuid

import pytest

from django_taskflow import models
from django_taskflow.states import Status
from tests import typed_tasks
from tests.conftest import WorkerProcesses, wait_for
from tests.typed_tasks import Currency, Line, Order, Person, Receipt

pytestmark = pytest.mark.processes


def test_typed_arguments_and_results_make_a_round_trip_through_a_real_worker(
    workers: WorkerProcesses,
) -> None:
    placed_at = datetime.datetime(2026, 3, 1, 9, 30, tzinfo=datetime.UTC)
    order = Order(
        id=uuid.uuid4(),
        placed_at=placed_at,
        ships_on=datetime.date(2026, 3, 4),
        total=decimal.Decimal("10.50"),
        currency=Currency.USD,
        lines=[Line(sku="B-2", quantity=1)],
    )
    charged = typed_tasks.charge.enqueue(
        order, ship_to={"city": "Oslo", "moved_in": datetime.date(2019, 5, 6), "floor": 3}
    )
    old = models.Task.objects.create(task_path=typed_tasks.greet.module_path, args=["Ada Lovelace"])
    new = typed_tasks.greet.enqueue(Person(first_name="Grace", last_name="Hopper"))
    workers.start()

    ids = [charged.id, old.pk, new.id]
    wait_for(
        lambda: (
            models.Task.objects.filter(pk__in=ids, status__in=["succeeded", "failed"]).count() == 3
        ),
        timeout=60,
    )

    assert set(models.Task.objects.filter(pk__in=ids).values_list("status", flat=True)) == {
        Status.SUCCEEDED
    }
    charged.refresh()
    assert charged.return_value == Receipt(
        order_id=order.id, charged=decimal.Decimal("10.50"), currency=Currency.USD, at=placed_at
    )
    assert models.Task.objects.get(pk=old.pk).result == "Hello, Ada (Lovelace)"
    new.refresh()
    assert new.return_value == "Hello, Grace (Hopper)"
