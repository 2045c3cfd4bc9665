"""Concurrency caps and rate limits: the example of docs/reference/task-options.md."""

from __future__ import annotations

from datetime import timedelta

from django_taskflow import Concurrency, RateLimit, task

RESIZED: list[int] = []
SYNCED: list[int] = []
SENT: list[str] = []


@task(concurrency=Concurrency(3))
def resize_image(image_id: int) -> None:
    """At most 3 run at once, across all workers: the image service takes no more."""
    RESIZED.append(image_id)


@task(concurrency=Concurrency(1, key="user_id"))
def sync_account(user_id: int, full: bool = False) -> None:
    """One at a time per user: two syncs of one account would overwrite each other."""
    SYNCED.append(user_id)


@task(concurrency=Concurrency(2, key=lambda tenant, **_: tenant, strategy="lifo"))
def rebuild_search_index(tenant: str, reason: str) -> None:
    """Two per tenant, newest request first: the older ones are stale by then."""


@task(rate_limit=RateLimit(10, per=timedelta(minutes=1)))
def call_partner_api(order_id: int) -> None:
    """At most 10 starts in any minute: the partner's published limit."""


@task(rate_limit=RateLimit.MODERATE)
def send_sms(number: str, text: str) -> None:
    """10 a minute, a preset."""
    SENT.append(number)


@task(rate_limit=RateLimit(100, per=timedelta(hours=1), key="account_id"))
def fetch_statements(account_id: int) -> None:
    """100 an hour for each account: the bank counts per account."""
