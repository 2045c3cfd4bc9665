"""Tasks the API tests enqueue by name (module level, so the worker can import them)."""

from __future__ import annotations

import datetime
import decimal
from dataclasses import dataclass

from django_taskflow import task


@task(api=True, tags=["reports"])
def compile_report(year: int, title: str = "Annual", *, pages: list[int] | None = None) -> str:
    return f"{title} {year}: {len(pages or [])} pages"


@task(api=True, queue_name="emails")
def notify(address: str) -> None:
    raise ConnectionError(f"mail server refused {address}")


@task
def internal_only(amount: int) -> int:
    """Not marked api=True: the API must refuse to enqueue it."""
    return amount


@task(api=True, unique=True)
def refresh_cache(name: str) -> None:
    """At most one queued or running copy per name."""


@dataclass(frozen=True)
class Invoice:
    number: str
    due_on: datetime.date


@task(api=True)
def send_invoice(invoice: Invoice) -> datetime.date:
    """A typed parameter: the API takes its JSON form, the task gets an Invoice."""
    assert isinstance(invoice, Invoice)
    return invoice.due_on


@task(api=True)
def remind(
    invoice: Invoice, *, when: datetime.datetime, amount: decimal.Decimal | None = None
) -> str:
    """Typed keyword arguments: an unreadable one is a 400 beside its name."""
    return f"{invoice.number} at {when.isoformat()} ({amount})"
