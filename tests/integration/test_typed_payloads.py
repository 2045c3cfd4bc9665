"""Typed arguments and results: stored as JSON, given to the task and the caller as their types."""

from __future__ import annotations

import datetime
import decimal
import uuid

import pytest

from django_taskflow import models
from django_taskflow.exceptions import PayloadShapeError
from django_taskflow.states import Status
from django_taskflow.testing import run_tasks
from tests import typed_tasks
from tests.typed_tasks import Address, Currency, Line, Order, Receipt

pytestmark = pytest.mark.django_db(transaction=True)

PLACED_AT = datetime.datetime(2026, 3, 1, 9, 30, tzinfo=datetime.UTC)
ORDER = Order(
    id=uuid.UUID("12345678-1234-5678-1234-567812345678"),
    placed_at=PLACED_AT,
    ships_on=datetime.date(2026, 3, 4),
    total=decimal.Decimal("19.99"),
    currency=Currency.EUR,
    lines=[Line(sku="A-1", quantity=2)],
)
SHIP_TO: Address = {"city": "Lyon", "moved_in": datetime.date(2020, 1, 2)}


def test_typed_arguments_are_stored_as_json_and_the_result_comes_back_typed() -> None:
    result = typed_tasks.charge.enqueue(ORDER, ship_to=SHIP_TO, tip=decimal.Decimal("0.01"))

    row = models.Task.objects.get(pk=result.id)
    assert row.args == [
        {
            "id": "12345678-1234-5678-1234-567812345678",
            "placed_at": "2026-03-01T09:30:00+00:00",
            "ships_on": "2026-03-04",
            "total": "19.99",
            "currency": "EUR",
            "lines": [{"sku": "A-1", "quantity": 2}],
            "note": None,
        }
    ]
    assert row.kwargs == {"ship_to": {"city": "Lyon", "moved_in": "2020-01-02"}, "tip": "0.01"}
    assert row.encoding is None  # plain JSON of the first version: nothing to mark

    run_tasks()

    result.refresh()
    assert result.status.name == "SUCCESSFUL", models.Task.objects.get(
        pk=result.id
    ).attempt_set.last()
    assert result.return_value == Receipt(
        order_id=ORDER.id, charged=decimal.Decimal("20.00"), currency=Currency.EUR, at=PLACED_AT
    )
    assert models.Task.objects.get(pk=result.id).result == {
        "order_id": "12345678-1234-5678-1234-567812345678",
        "charged": "20.00",
        "currency": "EUR",
        "at": "2026-03-01T09:30:00+00:00",
    }


def test_typed_values_inside_lists_and_dicts_arrive_typed() -> None:
    ids = {"a": uuid.UUID(int=1)}
    result = typed_tasks.describe.enqueue(PLACED_AT, ["EUR", Currency.USD], ids)

    run_tasks()

    result.refresh()
    assert result.return_value == "2026-03-01T09:30:00+00:00 EUR+USD ['a']"


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (
            lambda: typed_tasks.charge.enqueue(
                Order(**{**ORDER.__dict__, "placed_at": "2026-03-01"}), ship_to=SHIP_TO
            ),
            "order['placed_at'] is str '2026-03-01', expected datetime",
        ),
        (
            lambda: typed_tasks.charge.enqueue(
                Order(**{**ORDER.__dict__, "lines": [Line(sku="A", quantity="two")]}),  # type: ignore[arg-type]
                ship_to=SHIP_TO,
            ),
            "order['lines'][0]['quantity'] is str 'two', expected int",
        ),
        (
            lambda: typed_tasks.charge.enqueue(ORDER, ship_to={"city": "Lyon"}),
            "ship_to is missing the key 'moved_in' that Address requires",
        ),
        (
            lambda: typed_tasks.charge.enqueue(
                Order(**{**ORDER.__dict__, "currency": "GBP"}), ship_to=SHIP_TO
            ),
            "order['currency'] is str 'GBP', expected a Currency (one of 'EUR', 'USD')",
        ),
        (
            lambda: typed_tasks.charge.enqueue(
                {"id": str(ORDER.id)},  # type: ignore[arg-type]
                ship_to=SHIP_TO,
            ),
            "order is missing the field 'currency' of Order",
        ),
        (
            lambda: typed_tasks.charge.enqueue(ORDER, ship_to=SHIP_TO, tip=1.5),  # type: ignore[arg-type]
            "tip is float 1.5, expected Decimal",
        ),
        (
            lambda: typed_tasks.describe.enqueue(PLACED_AT.date(), [], {}),  # type: ignore[arg-type]
            "when is date datetime.date(2026, 3, 1), expected datetime",
        ),
    ],
)
def test_a_wrong_shape_fails_at_enqueue_naming_the_field(call: object, message: str) -> None:
    with pytest.raises(
        PayloadShapeError, match=r"^Arguments of tests\.typed_tasks\.\w+ do not fit"
    ) as info:
        call()  # type: ignore[operator]

    assert message in str(info.value)
    assert not models.Task.objects.exists()  # nothing half-written


def test_a_result_of_the_wrong_shape_fails_the_task_naming_the_field() -> None:
    result = typed_tasks.wrong_receipt.enqueue(ORDER)

    run_tasks()

    row = models.Task.objects.get(pk=result.id)
    assert row.status == Status.FAILED
    attempt = row.attempt_set.get()
    assert attempt.error_class.endswith("ResultTypeMismatch")
    assert "the result is missing the field" in attempt.error_message


def test_a_version_1_payload_is_upgraded_before_the_task_runs() -> None:
    # What the code before @task(version=2) wrote: greet(name: str), no encoding.
    old = models.Task.objects.create(task_path=typed_tasks.greet.module_path, args=["Ada Lovelace"])
    new = typed_tasks.greet.enqueue(typed_tasks.Person(first_name="Grace", last_name="Hopper"))
    assert models.Task.objects.get(pk=new.id).encoding == '{"v":2}'

    run_tasks()

    assert models.Task.objects.get(pk=old.pk).result == "Hello, Ada (Lovelace)"
    assert models.Task.objects.get(pk=new.id).result == "Hello, Grace (Hopper)"


def test_a_payload_newer_than_the_worker_fails_with_a_clear_error() -> None:
    row = models.Task.objects.create(
        task_path=typed_tasks.greet.module_path, args=[{}], encoding='{"v":3}'
    )

    run_tasks()

    row.refresh_from_db()
    assert row.status == Status.FAILED
    attempt = row.attempt_set.get()
    assert attempt.error_class.endswith("PayloadVersionError")
    assert "enqueued as version 3, but this worker has version 2" in attempt.error_message
