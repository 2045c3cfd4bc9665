"""Whether a failed attempt is worth another: retry_on, dont_retry_on and retry_if."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from django_taskflow import task
from django_taskflow.execution.runner import is_retryable

received: list[Any] = []


class PaymentDeclinedError(Exception):
    """The card was refused: another attempt would be refused too."""


class GatewayError(ConnectionError):
    """A ConnectionError subclass."""


def check_status(status: int) -> int | None:
    """The Secretary's validator: anything but 200 is rejected as the status itself."""
    return None if status == 200 else status


def record_and_retry(error: Any) -> bool:
    received.append(error)
    return True


def broken_predicate(error: Any) -> bool:
    raise KeyError("no such rule")


@task
def plain() -> None:
    return None


@task(retry_on=(ConnectionError, TimeoutError))
def network_call() -> None:
    return None


@task(dont_retry_on=(PaymentDeclinedError,))
def charge() -> None:
    return None


@task(retry_on=(ConnectionError,), dont_retry_on=(GatewayError,))
def both_lists() -> None:
    return None


@task(retry_if=lambda error: isinstance(error, ConnectionError))
def only_connection_errors() -> None:
    return None


@task(retry_if=record_and_retry)
def recording() -> None:
    return None


@task(validator=check_status, retry_if=lambda error: error != 415)
def fetch_status() -> int:
    return 200


@task(retry_if=broken_predicate)
def broken() -> None:
    return None


@task(retry_on=(ConnectionError,), retry_if=lambda error: False)
def retry_on_and_retry_if() -> None:
    return None


@task(retry_if=lambda error: "yes")
def truthy_answer() -> None:
    return None


@pytest.fixture(autouse=True)
def _forget_received() -> None:
    received.clear()


# Without options


@pytest.mark.parametrize("error", [ValueError("x"), ConnectionError("x"), KeyboardInterrupt()])
def test_every_error_is_retryable_without_options(error: BaseException) -> None:
    assert is_retryable(plain, error)


def test_rejected_value_is_retryable_without_retry_if() -> None:
    assert is_retryable(plain, ValueError("rejected"), rejected=415)


# retry_on


@pytest.mark.parametrize("error", [ConnectionError("x"), TimeoutError("x"), GatewayError("x")])
def test_retry_on_retries_the_listed_errors_and_their_subclasses(error: BaseException) -> None:
    assert is_retryable(network_call, error)


@pytest.mark.parametrize("error", [ValueError("x"), KeyError("x")])
def test_retry_on_does_not_retry_other_errors(error: BaseException) -> None:
    assert not is_retryable(network_call, error)


# dont_retry_on


def test_dont_retry_on_stops_the_listed_error() -> None:
    assert not is_retryable(charge, PaymentDeclinedError("card declined"))


def test_dont_retry_on_leaves_other_errors_retryable() -> None:
    assert is_retryable(charge, ConnectionError("gateway down"))


def test_dont_retry_on_wins_over_retry_on() -> None:
    assert not is_retryable(both_lists, GatewayError("gateway down"))


def test_retry_on_still_applies_beside_dont_retry_on() -> None:
    assert is_retryable(both_lists, ConnectionError("reset"))
    assert not is_retryable(both_lists, ValueError("x"))


# retry_if


def test_retry_if_receives_the_exception() -> None:
    error = ConnectionError("reset")

    is_retryable(recording, error)

    assert received == [error]


def test_retry_if_decides_for_an_exception() -> None:
    assert is_retryable(only_connection_errors, ConnectionError("reset"))
    assert not is_retryable(only_connection_errors, ValueError("x"))


def test_retry_if_receives_the_rejected_value_instead_of_the_error() -> None:
    is_retryable(recording, ValueError("the validator rejected the result: 415"), rejected=415)

    assert received == [415]


def test_rejected_415_is_not_retried() -> None:
    assert not is_retryable(fetch_status, ValueError("rejected"), rejected=check_status(415))


def test_rejected_503_is_retried() -> None:
    assert is_retryable(fetch_status, ValueError("rejected"), rejected=check_status(503))


def test_connection_error_is_retried_by_the_same_retry_if() -> None:
    assert is_retryable(fetch_status, ConnectionError("reset"))


def test_retry_on_must_match_before_retry_if_is_asked() -> None:
    assert not is_retryable(retry_on_and_retry_if, ConnectionError("reset"))
    assert not is_retryable(retry_on_and_retry_if, ValueError("x"))


def test_retry_if_answer_is_taken_as_true_or_false() -> None:
    assert is_retryable(truthy_answer, ValueError("x")) is True


def test_retry_if_that_raises_means_no_retry(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.ERROR, logger="django_taskflow.execution.runner"):
        retry = is_retryable(broken, ConnectionError("reset"))

    assert retry is False
    [record] = caplog.records
    assert record.getMessage() == (
        "retry_if of tests.unit.test_retry_decision.broken raised; not retrying"
    )
    assert record.exc_info is not None
    assert isinstance(record.exc_info[1], KeyError)
