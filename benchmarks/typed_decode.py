"""The ``typed`` figure: what decoding a typed dataclass argument costs a worker, per task.

Measured in process (no database): the worker's own path from a claimed
row's stored JSON to the function's arguments (``read_call``), for one
argument that is a dataclass with a datetime, a date, a Decimal, a UUID,
an Enum and a list of two nested dataclasses (``read_call`` then
``load_call``). The figure is the best of
five rounds, as ``timeit`` advises: slower rounds measure the machine's
other load, not the code.
"""

from __future__ import annotations

import datetime
import decimal
import enum
import timeit
import uuid
from dataclasses import dataclass, field
from typing import Any

ROUNDS = 5
CALLS_PER_ROUND = 20_000


class Currency(enum.StrEnum):
    EUR = "EUR"


@dataclass(frozen=True)
class Line:
    sku: str
    quantity: int


@dataclass(frozen=True)
class Order:
    id: uuid.UUID
    placed_at: datetime.datetime
    ships_on: datetime.date
    total: decimal.Decimal
    currency: Currency
    lines: list[Line] = field(default_factory=list)


def ship(order: Order) -> None:
    return None


def measure() -> dict[str, float]:
    """``typed_decode_us``: microseconds to decode one task's typed dataclass argument."""
    from django_taskflow import task
    from django_taskflow.encoding import arguments, calls

    definition = task(ship)
    order = Order(
        id=uuid.uuid4(),
        placed_at=datetime.datetime.now(datetime.UTC),
        ships_on=datetime.date.today(),
        total=decimal.Decimal("12.34"),
        currency=Currency.EUR,
        lines=[Line(sku="A", quantity=1), Line(sku="B", quantity=2)],
    )
    writer = arguments.writer_for(definition, max_bytes=1_000_000)
    stored_args, stored_kwargs = writer.as_json((order,), {})
    task_id = uuid.uuid4()

    def decode() -> Any:
        # What the worker does before the call: read the row's encoding, then type.
        plain_args, plain_kwargs = arguments.read_call(
            definition, task_id, None, list(stored_args), dict(stored_kwargs)
        )
        return calls.load_call(definition.func, False, plain_args, plain_kwargs)

    assert decode()[0][0] == order

    best = min(timeit.repeat(decode, number=CALLS_PER_ROUND, repeat=ROUNDS))
    return {"typed_decode_us": best / CALLS_PER_ROUND * 1e6}
