"""Retries, validators and typed results: the example of docs/howto/retries-and-timeouts.md."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django_taskflow import RetryPolicy, TaskContext, task

# -- stand-ins for the services the tasks call -------------------------------------


@dataclass
class FakeService:
    """Answers each call with the next of ``answers`` (an exception is raised)."""

    answers: list[object] = field(default_factory=list)
    default: object = 200

    def call(self, *args: object) -> Any:
        answer = self.answers.pop(0) if self.answers else self.default
        if isinstance(answer, BaseException):
            raise answer
        return answer


storage = FakeService()  # a storage API: answers with an HTTP status code
rates_api = FakeService(default={"EUR": 1.0, "USD": 1.08})
crm = FakeService(default="synced")
partner = FakeService(default=True)
PRICES: dict[int, Any] = {}  # order id -> price, as the shop's database stores it


class RateLimited(Exception):
    """The remote service asked us to slow down, for ``retry_after`` seconds."""

    def __init__(self, retry_after: float) -> None:
        super().__init__(f"rate limited for {retry_after:g} s")
        self.retry_after = retry_after


# -- a validator and retry_if: the status code decides ---------------------------


@task(
    max_attempts=5,
    retry=RetryPolicy.exponential(initial_delay=2, max_delay=60),
    validator=lambda code: None if code == 200 else code,
    retry_if=lambda error: error != 415,
)
def upload_file(path: str) -> int:
    """Upload a file; anything but 200 is an error, and 415 (wrong type) is final."""
    return storage.call(path)


# -- which exceptions are worth another attempt -----------------------------------


@task(
    max_attempts=4,
    retry=RetryPolicy.linear(delay=10, max_delay=60),
    retry_on=(ConnectionError, TimeoutError),
    dont_retry_on=(ConnectionRefusedError,),
)
def fetch_exchange_rates(day: str) -> dict[str, float]:
    """Network trouble is retried, 10 s, 20 s, then 30 s later; a refused connection is not."""
    return rates_api.call(day)


# -- the task decides: context.retry() ------------------------------------------


@task(takes_context=True, max_attempts=5)
def sync_account(context: TaskContext, account_id: int) -> str:
    """Wait exactly as long as the CRM asks when it rate-limits us."""
    try:
        return crm.call(account_id)
    except RateLimited as exc:
        context.retry(countdown=exc.retry_after)


# -- a custom policy: a module-level function of the attempt number ---------------


def partner_backoff(attempt: int) -> float:
    """Seconds to wait after failed attempt ``attempt``: 5 s, 30 s, then 5 minutes."""
    return (5.0, 30.0, 300.0)[min(attempt, 3) - 1]


@task(max_attempts=4, retry=RetryPolicy.custom(partner_backoff))
def notify_partner(order_id: int) -> bool:
    return partner.call(order_id)


# -- a typed result ------------------------------------------------------------


@dataclass
class Invoice:
    number: str
    total_cents: int


@task
def build_invoice(order_id: int) -> Invoice:
    """Returns a dataclass: checked against the annotation, stored as a dict, read back typed."""
    return Invoice(number=f"INV-{order_id:05d}", total_cents=PRICES[order_id])
