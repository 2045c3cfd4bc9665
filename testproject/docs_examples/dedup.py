"""Deduplication and uniqueness: the example of docs/reference/task-options.md."""

from __future__ import annotations

from datetime import timedelta

from django_taskflow import Dedup, task

SENT: list[int] = []
INDEXED: list[tuple[int, list[str]]] = []


@task(dedup=Dedup.by_input(ttl=timedelta(minutes=5)))
def send_receipt(order_id: int) -> None:
    """A double click on "Pay" sends one receipt."""
    SENT.append(order_id)


@task(dedup=Dedup.by_fields(["user_id"], ttl=timedelta(minutes=5)))
def sync_profile(user_id: int, source: str = "web") -> None:
    """At most one sync per user in five minutes, whichever page asked for it."""


@task(dedup=Dedup.by_fields(["user_id"], ttl=timedelta(hours=1), debounce=timedelta(seconds=10)))
def reindex_user(user_id: int, fields: list[str]) -> None:
    """Runs once a burst of edits has been quiet for 10 s, with the last edit's fields."""
    INDEXED.append((user_id, fields))


@task(dedup=Dedup.by_key(ttl=timedelta(hours=1)))
def charge(invoice_id: int, cents: int) -> None:
    """Deduplicated on the caller's key: charge.using(key=...).enqueue(...)."""


@task(unique=True)
def rebuild_report(report_id: int) -> None:
    """At most one rebuild of a report queued or running; a later one may follow."""
