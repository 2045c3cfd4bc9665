"""What follows an attempt: retry later, fail for good, or succeed."""

from __future__ import annotations

import datetime as dt

import pytest

from django_taskflow.execution import outcome
from django_taskflow.states import AttemptOutcome, Status

NOW = dt.datetime(2025, 3, 1, 12, 0, tzinfo=dt.UTC)


class PaymentDeclinedError(Exception):
    """A task-specific error, defined at module level."""


class Gateway:
    class UnavailableError(Exception):
        """An error class nested in another class."""


class UnprintableError(Exception):
    """An error whose message cannot be built."""

    def __str__(self) -> str:
        raise RuntimeError("str() of this error fails")


def raised(exc: BaseException) -> BaseException:
    """Return ``exc`` after raising and catching it, so it carries a traceback."""
    try:
        raise exc
    except BaseException as caught:
        return caught


def fail(
    exc: BaseException | None = None,
    *,
    attempt: int = 1,
    max_attempts: int = 3,
    retry_delay: float = 5.0,
    retryable: bool = True,
) -> outcome.Outcome:
    """Decide the outcome of an attempt that raised ``exc`` at ``NOW``."""
    return outcome.failed(
        raised(exc or ValueError("bad input")),
        attempt=attempt,
        max_attempts=max_attempts,
        retry_delay=retry_delay,
        now=NOW,
        retryable=retryable,
    )


@pytest.mark.parametrize("attempt", [1, 2])
def test_failed_attempt_is_retried_while_attempts_remain(attempt: int) -> None:
    result = fail(attempt=attempt, max_attempts=3)

    assert result.status == Status.QUEUED
    assert not result.is_final


def test_retry_is_scheduled_retry_delay_seconds_after_now() -> None:
    result = fail(retry_delay=5.0)

    assert result.retry_at == NOW + dt.timedelta(seconds=5)


def test_fractional_retry_delay_is_kept() -> None:
    result = fail(retry_delay=0.25)

    assert result.retry_at == NOW + dt.timedelta(milliseconds=250)


def test_zero_retry_delay_retries_at_once() -> None:
    assert fail(retry_delay=0).retry_at == NOW


def test_last_attempt_fails_for_good() -> None:
    result = fail(attempt=3, max_attempts=3)

    assert result.status == Status.FAILED
    assert result.is_final
    assert result.retry_at is None


def test_single_attempt_task_fails_for_good_at_once() -> None:
    result = fail(attempt=1, max_attempts=1)

    assert result.status == Status.FAILED
    assert result.retry_at is None


def test_attempt_beyond_max_attempts_fails_for_good() -> None:
    assert fail(attempt=4, max_attempts=3).status == Status.FAILED


def test_non_retryable_failure_fails_at_once_despite_attempts_left() -> None:
    result = fail(attempt=1, max_attempts=5, retryable=False)

    assert result.status == Status.FAILED
    assert result.is_final
    assert result.retry_at is None


def test_failed_attempt_is_recorded_as_failed_whether_retried_or_not() -> None:
    assert fail(attempt=1, max_attempts=3).attempt_outcome == AttemptOutcome.FAILED
    assert fail(attempt=3, max_attempts=3).attempt_outcome == AttemptOutcome.FAILED


@pytest.mark.parametrize(
    ("exc", "path"),
    [
        (ValueError("x"), "builtins.ValueError"),
        (PaymentDeclinedError("x"), "tests.unit.test_outcome.PaymentDeclinedError"),
        (Gateway.UnavailableError("x"), "tests.unit.test_outcome.Gateway.UnavailableError"),
        (KeyboardInterrupt(), "builtins.KeyboardInterrupt"),
    ],
)
def test_error_class_is_recorded_as_its_import_path(exc: BaseException, path: str) -> None:
    assert fail(exc).error_class == path


def test_error_message_is_the_exception_text() -> None:
    assert fail(PaymentDeclinedError("card 4242 declined")).error_message == "card 4242 declined"


def test_very_long_error_message_is_cut_to_10000_characters() -> None:
    result = fail(ValueError("x" * 20_000))

    assert result.error_message == "x" * 10_000


def test_traceback_is_captured() -> None:
    result = fail(PaymentDeclinedError("card declined"))

    assert result.traceback.startswith("Traceback (most recent call last):")
    assert "in raised" in result.traceback
    assert result.traceback.rstrip().endswith(
        "tests.unit.test_outcome.PaymentDeclinedError: card declined"
    )


def test_nul_and_lone_surrogates_in_an_error_are_stored_as_escapes() -> None:
    name = b"report-\xff.csv".decode("utf-8", "surrogateescape")

    result = fail(FileNotFoundError(f"no such file: {name}\x00"))

    assert result.status == Status.QUEUED  # still retried, as the same error
    assert result.error_class == "builtins.FileNotFoundError"
    assert result.error_message == "no such file: report-\\udcff.csv\\x00"
    assert "no such file: report-\\udcff.csv\\x00" in result.traceback
    for text in (result.error_class, result.error_message, result.traceback):
        assert "\x00" not in text
        text.encode("utf-8")


def test_exception_whose_str_fails_still_gives_an_outcome() -> None:
    result = fail(UnprintableError(), attempt=1, max_attempts=1)

    assert result.status == Status.FAILED
    assert result.error_class == "tests.unit.test_outcome.UnprintableError"


def test_succeeded_is_final_and_keeps_the_result() -> None:
    result = outcome.succeeded('{"total":3}')

    assert result.status == Status.SUCCEEDED
    assert result.attempt_outcome == AttemptOutcome.SUCCEEDED
    assert result.is_final
    assert result.result_json == '{"total":3}'
    assert result.retry_at is None
    assert result.error_class == ""
    assert result.traceback == ""


@pytest.mark.parametrize("kind", [AttemptOutcome.TIMED_OUT, AttemptOutcome.RETRY_REQUESTED])
def test_attempt_outcome_is_recorded_as_given(kind: AttemptOutcome) -> None:
    result = outcome.failed(
        raised(RuntimeError("x")),
        attempt=1,
        max_attempts=3,
        retry_delay=0,
        now=NOW,
        attempt_outcome=kind,
    )

    assert result.attempt_outcome == kind
    assert result.status == Status.QUEUED


def test_rejected_value_is_kept_as_json() -> None:
    result = outcome.failed(
        raised(ValueError("the validator rejected the result: 415")),
        attempt=1,
        max_attempts=1,
        retry_delay=0,
        now=NOW,
        error_value_json="415",
    )

    assert result.error_value_json == "415"


def test_raised_error_has_no_rejected_value() -> None:
    assert fail().error_value_json is None


@pytest.mark.parametrize(
    ("result", "kind"),
    [
        (outcome.succeeded("1"), "succeeded"),
        (fail(attempt=1, max_attempts=3), "retrying"),
        (fail(attempt=3, max_attempts=3), "failed"),
        (fail(attempt=1, max_attempts=3, retryable=False), "failed"),
    ],
)
def test_event_kind_names_what_follows_the_attempt(result: outcome.Outcome, kind: str) -> None:
    assert result.event_kind == kind


# Attempts left, and lost attempts


@pytest.mark.parametrize(
    ("attempt", "lost", "left"),
    [(1, 0, True), (3, 0, False), (3, 1, True), (4, 1, False), (5, 4, True)],
)
def test_lost_attempts_do_not_use_up_max_attempts(attempt: int, lost: int, left: bool) -> None:
    assert outcome.has_attempts_left(attempt=attempt, lost_attempts=lost, max_attempts=3) is left


def test_failure_after_lost_attempts_is_still_retried() -> None:
    result = outcome.failed(
        raised(RuntimeError("boom")),
        attempt=3,
        max_attempts=2,
        lost_attempts=2,
        retry_delay=0,
        now=NOW,
    )

    assert result.status == Status.QUEUED


@pytest.mark.parametrize(
    ("lost", "on_lost", "for_good"),
    [(1, "requeue", False), (2, "requeue", False), (3, "requeue", True), (1, "fail", True)],
)
def test_lost_task_fails_when_it_must_not_repeat_or_keeps_getting_lost(
    lost: int, on_lost: str, for_good: bool
) -> None:
    assert (
        outcome.is_lost_for_good(lost_attempts=lost, on_lost=on_lost, max_lost_attempts=3)
        is for_good
    )
