"""Typed results as the validator sees them, and unions of several typed members."""

from __future__ import annotations

import dataclasses
import datetime
import decimal
import uuid
from typing import Literal

import pytest

from django_taskflow import models, task
from django_taskflow.exceptions import PayloadShapeError
from django_taskflow.states import Status
from django_taskflow.testing import run_tasks
from tests import typed_tasks
from tests.typed_tasks import Currency, Order

pytestmark = pytest.mark.django_db(transaction=True)

ORDER = Order(
    id=uuid.UUID("12345678-1234-5678-1234-567812345678"),
    placed_at=datetime.datetime(2026, 3, 1, 9, 30, tzinfo=datetime.UTC),
    ships_on=datetime.date(2026, 3, 4),
    total=decimal.Decimal("19.99"),
    currency=Currency.EUR,
)


@pytest.mark.parametrize("definition", [typed_tasks.confirm, typed_tasks.confirm_from_dict])
def test_the_validator_sees_a_typed_result_as_its_type(definition: object) -> None:
    result = definition.enqueue(ORDER)  # type: ignore[attr-defined]

    run_tasks()

    result.refresh()
    row = models.Task.objects.get(pk=result.id)
    assert row.status == Status.SUCCEEDED, row.attempt_set.last().error_message
    assert result.return_value == dataclasses.replace(ORDER, lines=[], note=None)


def test_the_validator_rejects_a_typed_result_by_its_typed_fields() -> None:
    result = typed_tasks.confirm.enqueue(dataclasses.replace(ORDER, total=decimal.Decimal(0)))

    run_tasks()

    attempt = models.Attempt.objects.get(task_id=result.id)
    assert attempt.error_class.endswith("ResultRejected")
    assert attempt.error_message == "the validator rejected the result: 'empty order'"


@pytest.mark.parametrize(
    ("amount", "stored", "received"),
    [
        (decimal.Decimal("12.50"), "12.50", "Decimal 12.50"),
        (datetime.date(2026, 4, 1), "2026-04-01", "date 2026-04-01"),
        ("cash", "cash", "str cash"),
    ],
)
def test_each_member_of_a_typed_union_arrives_as_itself(
    amount: object, stored: str, received: str
) -> None:
    result = typed_tasks.pay.enqueue(amount)  # type: ignore[arg-type]
    assert models.Task.objects.get(pk=result.id).args == [stored]

    run_tasks()

    result.refresh()
    assert result.return_value == received


def test_a_union_value_that_would_read_back_as_another_member_is_refused_at_enqueue() -> None:
    with pytest.raises(PayloadShapeError) as caught:
        typed_tasks.pay.enqueue("12.50")

    assert str(caught.value) == (
        f"Arguments of {typed_tasks.pay.module_path} do not fit its annotations: amount is "
        "str '12.50', a str, but its JSON \"12.50\" would be read back as Decimal: "
        "Decimal | date | str cannot tell them apart once stored."
    )
    assert not models.Task.objects.exists()


@dataclasses.dataclass(frozen=True)
class Card:
    number: str
    kind: Literal["card"] = "card"


@dataclasses.dataclass(frozen=True)
class Transfer:
    iban: str
    kind: Literal["transfer"] = "transfer"


@task
def refund(method: Card | Transfer) -> Card | Transfer:
    return method


def test_dataclasses_told_apart_by_a_literal_field_make_a_typed_union() -> None:
    card = refund.enqueue(Card("4111"))
    transfer = refund.enqueue(Transfer("DE89"))

    run_tasks()

    assert card.wait().return_value == Card("4111")
    assert transfer.wait().return_value == Transfer("DE89")
