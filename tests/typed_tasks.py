"""Module-level tasks with typed parameters and results (tasks must be importable by path)."""

from __future__ import annotations

import datetime
import decimal
import enum
import uuid
from dataclasses import dataclass, field
from typing import Any, NotRequired, TypedDict

from django_taskflow import task


class Currency(enum.StrEnum):
    EUR = "EUR"
    USD = "USD"


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
    note: str | None = None


class Address(TypedDict):
    city: str
    moved_in: datetime.date
    floor: NotRequired[int]


@dataclass(frozen=True)
class Receipt:
    order_id: uuid.UUID
    charged: decimal.Decimal
    currency: Currency
    at: datetime.datetime


@task
def charge(order: Order, *, ship_to: Address, tip: decimal.Decimal | None = None) -> Receipt:
    """Checks in the worker that every argument arrived as its annotated type."""
    assert isinstance(order, Order), type(order)
    assert isinstance(order.placed_at, datetime.datetime)
    assert isinstance(order.ships_on, datetime.date)
    assert all(isinstance(line, Line) for line in order.lines)
    assert isinstance(ship_to["moved_in"], datetime.date)
    assert tip is None or isinstance(tip, decimal.Decimal)
    return Receipt(
        order_id=order.id,
        charged=order.total + (tip or decimal.Decimal(0)),
        currency=order.currency,
        at=order.placed_at,
    )


@task
def wrong_receipt(order: Order) -> Receipt:
    return {"order_id": "not a uuid"}  # type: ignore[return-value]


@task
def describe(when: datetime.datetime, currencies: list[Currency], ids: dict[str, uuid.UUID]) -> str:
    assert all(isinstance(currency, Currency) for currency in currencies)
    assert all(isinstance(value, uuid.UUID) for value in ids.values())
    return f"{when.isoformat()} {'+'.join(currencies)} {sorted(ids)}"


@dataclass(frozen=True)
class Person:
    first_name: str
    last_name: str


def upgrade_greet(
    args: list[Any], kwargs: dict[str, Any], version: int
) -> tuple[list[Any], dict[str, Any]]:
    """Version 1 took one ``name`` string; version 2 takes a Person."""
    name = kwargs.pop("name", None) or args.pop(0)
    first, _, last = name.partition(" ")
    return [{"first_name": first, "last_name": last}], kwargs


@task(version=2, upgrade=upgrade_greet)
def greet(person: Person) -> str:
    assert isinstance(person, Person)
    return f"Hello, {person.first_name} ({person.last_name})"


@task(encoder="compressed")
def echo_compressed(text: str) -> str:
    return text


@task
def echo(text: str) -> str:
    return text


def order_check(order: Any) -> str | None:
    """A validator: accepts an Order with typed fields, rejects an order not yet placed."""
    if not isinstance(order, Order) or not isinstance(order.placed_at, datetime.datetime):
        return f"got {type(order).__name__}"
    return None if order.total > 0 else "empty order"


@task(validator=order_check)
def confirm(order: Order) -> Order:
    """Returns its typed argument; the validator must see it typed."""
    return order


@task(validator=order_check)
def confirm_from_dict(order: Order) -> Order:
    """Returns a dict of the fields: the validator still sees the Order it is read back as."""
    return {  # type: ignore[return-value]
        "id": order.id,
        "placed_at": order.placed_at,
        "ships_on": order.ships_on,
        "total": order.total,
        "currency": order.currency,
    }


@task
def pay(amount: decimal.Decimal | datetime.date | str) -> str:
    """A union of several typed members: each arrives as the member it was."""
    return f"{type(amount).__name__} {amount}"
