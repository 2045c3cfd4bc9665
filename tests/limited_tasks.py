"""Tasks under concurrency caps and rate limits (tests/*/test_limits*.py enqueue them).

Each writes its start and end instants to a log, so that tests can check
that a limit held at every instant across real worker processes.
"""

from __future__ import annotations

import os
import time
from datetime import timedelta

from django_taskflow import Concurrency, RateLimit, TaskContext, task


def _log(path: str, line: str) -> None:
    with open(path, "a") as log:
        log.write(line + "\n")


def _run(log_path: str, group: str, seconds: float) -> None:
    _log(log_path, f"start {group} {time.time():.6f} {os.getpid()}")
    time.sleep(seconds)
    _log(log_path, f"end {group} {time.time():.6f} {os.getpid()}")


@task(concurrency=Concurrency(2))
def capped(log_path: str, seconds: float) -> None:
    _run(log_path, "all", seconds)


@task(concurrency=Concurrency(1, key="tenant"))
def one_per_tenant(log_path: str, tenant: str, seconds: float) -> None:
    _run(log_path, tenant, seconds)


@task(concurrency=Concurrency(2, key=lambda tenant, **_: tenant.upper(), strategy="lifo"))
def two_per_tenant_newest_first(log_path: str, tenant: str, seconds: float = 0.0) -> None:
    _run(log_path, tenant.upper(), seconds)


@task(concurrency=Concurrency.SERIAL)
def serial(log_path: str, number: int) -> None:
    _run(log_path, str(number), 0.0)


@task(rate_limit=RateLimit(3, per=timedelta(seconds=2)))
def rate_limited(log_path: str, number: int) -> None:
    _run(log_path, str(number), 0.0)


@task(
    concurrency=Concurrency(1, key="account"),
    rate_limit=RateLimit(2, per=timedelta(seconds=2), key="account"),
)
def capped_and_rate_limited(log_path: str, account: str, seconds: float = 0.0) -> None:
    _run(log_path, account, seconds)


@task(concurrency=Concurrency(1))
def noop_capped() -> None:
    return None


@task(rate_limit=RateLimit(5, per=timedelta(minutes=1)))
def noop_rate_limited() -> None:
    return None


@task(concurrency=Concurrency(10, key="tenant"))
def tenant_work(log_path: str, tenant: str, seconds: float) -> None:
    """A cap higher than the slots: only the order of service keeps a tenant from starving."""
    _run(log_path, tenant, seconds)


@task(takes_context=True, concurrency=Concurrency.SERIAL)
def holds_the_slot(context: TaskContext, log_path: str, seconds: float) -> None:
    """Holds its group's one slot for ``seconds`` on its first attempt, not on later ones."""
    _run(log_path, "serial", seconds if context.attempt == 1 else 0.0)


@task
def uncapped(log_path: str, seconds: float) -> None:
    """No limit of its own: beside capped tasks, only its queue's limit holds it."""
    _run(log_path, "plain", seconds)
