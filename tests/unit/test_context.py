"""TaskContext: progress, heartbeats, lease extensions and retries asked for by the task."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

import pytest

from django_taskflow import TaskCancelled, results
from django_taskflow.cancel_requests import CancelRequest
from django_taskflow.exceptions import InvalidTaskOptions, RetryRequested, UnserializablePayload
from django_taskflow.execution.context import MAX_PROGRESS_MESSAGE_CHARS, TaskContext
from django_taskflow.policies import RetryPolicy
from tests import tasks


def nested_lists(depth: int) -> list[Any]:
    value: list[Any] = []
    for _ in range(depth - 1):
        value = [value]
    return value


class FakeReporter:
    """Records what a context sends to the worker's slot."""

    def __init__(self) -> None:
        self.progress: list[tuple[float, dict[str, Any]]] = []
        self.messages: list[str | None] = []
        self.leases: list[float | None] = []
        self.cancel: Any = None

    handles_signals = True
    hard_limit_passed = False

    def begin_attempt(self, task: Any, context: Any) -> None:
        raise AssertionError("the context never begins an attempt itself")

    def end_attempt(self) -> None:
        raise AssertionError("the context never ends an attempt itself")

    def report_progress(
        self, task_id: str, fraction: float, detail: dict[str, Any], message: str | None = None
    ) -> None:
        assert task_id == "task-1"  # the context names its own task
        self.progress.append((fraction, detail))
        self.messages.append(message)

    def extend_lease(self, task_id: str, seconds: float | None) -> None:
        assert task_id == "task-1"
        self.leases.append(seconds)

    def cancellation(self, task_id: str) -> Any:
        assert task_id == "task-1"
        return self.cancel


@pytest.fixture
def reporter() -> FakeReporter:
    return FakeReporter()


def make_context(
    reporter: FakeReporter | None = None,
    *,
    attempt: int = 1,
    max_attempts: int = 3,
    lost_attempts: int = 0,
) -> TaskContext:
    snapshot = results.build(
        tasks.whoami, task_id="task-1", status="running", args=[], kwargs={}, enqueued_at=None
    )
    return TaskContext(
        task_result=snapshot,
        attempt_number=attempt,
        max_attempts=max_attempts,
        lost_attempts=lost_attempts,
        worker_id="worker-1",
        reporter=reporter,
    )


# What the context tells the task


def test_context_names_the_task_and_the_attempt() -> None:
    context = make_context(attempt=2)

    assert context.task_id == "task-1"
    assert context.attempt == 2
    assert context.worker_id == "worker-1"


@pytest.mark.parametrize(("attempt", "last"), [(1, False), (2, False), (3, True)])
def test_is_last_attempt_on_the_final_allowed_run(attempt: int, last: bool) -> None:
    assert make_context(attempt=attempt, max_attempts=3).is_last_attempt is last


def test_lost_attempts_do_not_bring_the_last_attempt_closer() -> None:
    assert make_context(attempt=3, max_attempts=3, lost_attempts=1).is_last_attempt is False
    assert make_context(attempt=4, max_attempts=3, lost_attempts=1).is_last_attempt is True


def test_extra_starts_empty_for_each_context() -> None:
    first = make_context()
    first.extra["tenant"] = "acme"

    assert make_context().extra == {}


# report_progress


def test_report_progress_forwards_the_fraction_and_details(reporter: FakeReporter) -> None:
    make_context(reporter).report_progress(0.25, rows=250, stage="import")

    assert reporter.progress == [(0.25, {"rows": 250, "stage": "import"})]


def test_report_progress_without_details_forwards_an_empty_dict(reporter: FakeReporter) -> None:
    make_context(reporter).report_progress(1)

    assert reporter.progress == [(1.0, {})]


@pytest.mark.parametrize("fraction", [0, 1])
def test_report_progress_sends_whole_number_ends_as_floats(
    reporter: FakeReporter, fraction: int
) -> None:
    make_context(reporter).report_progress(fraction)

    [(sent, _)] = reporter.progress
    assert type(sent) is float
    assert sent == fraction


@pytest.mark.parametrize("fraction", [True, False, math.nan, math.inf, 1.5, -0.1, "0.5", None])
def test_report_progress_refuses_a_fraction_outside_0_to_1(
    reporter: FakeReporter, fraction: Any
) -> None:
    with pytest.raises(InvalidTaskOptions) as info:
        make_context(reporter).report_progress(fraction)

    assert str(info.value) == f"progress must be a number from 0 to 1, got {fraction!r}."
    assert reporter.progress == []


@pytest.mark.parametrize(
    ("detail", "problem"),
    [
        ({"seen": {1, 2}}, "the progress details['seen']"),
        ({"rate": math.nan}, "nan"),
        ({"levels": nested_lists(501)}, "deeper than the limit of 500 levels"),
    ],
)
def test_report_progress_refuses_details_that_are_not_json(
    reporter: FakeReporter, detail: dict[str, Any], problem: str
) -> None:
    with pytest.raises(UnserializablePayload) as info:
        make_context(reporter).report_progress(0.5, **detail)

    assert str(info.value).startswith("Progress details must be JSON: ")
    assert problem in str(info.value)
    assert reporter.progress == []


def test_report_progress_escapes_what_the_database_cannot_store(reporter: FakeReporter) -> None:
    name = b"report-\xff.csv".decode("utf-8", "surrogateescape")

    make_context(reporter).report_progress(
        0.5, file=name, nested={"note": "a\x00b", "files": [name, "ok"]}, count=3
    )

    [(_, detail)] = reporter.progress
    assert detail == {
        "file": "report-\\udcff.csv",
        "nested": {"note": "a\\x00b", "files": ["report-\\udcff.csv", "ok"]},
        "count": 3,
    }


def test_report_progress_without_a_reporter_still_validates() -> None:
    context = make_context(reporter=None)

    context.report_progress(0.5)
    with pytest.raises(InvalidTaskOptions):
        context.report_progress(2)


# heartbeat and extend_lease


def test_heartbeat_asks_for_a_normal_lease_renewal(reporter: FakeReporter) -> None:
    make_context(reporter).heartbeat()

    assert reporter.leases == [None]


def test_heartbeat_without_a_reporter_does_nothing() -> None:
    make_context(reporter=None).heartbeat()


def test_extend_lease_forwards_the_seconds_as_a_float(reporter: FakeReporter) -> None:
    make_context(reporter).extend_lease(600)

    assert reporter.leases == [600.0]
    assert type(reporter.leases[0]) is float


@pytest.mark.parametrize("seconds", [0, -5, True, math.nan, "60", None])
def test_extend_lease_refuses_anything_but_positive_seconds(
    reporter: FakeReporter, seconds: Any
) -> None:
    with pytest.raises(InvalidTaskOptions) as info:
        make_context(reporter).extend_lease(seconds)

    assert str(info.value) == f"extend_lease needs seconds from 0 to 604800, got {seconds!r}."
    assert reporter.leases == []


# retry


def test_retry_raises_retry_requested() -> None:
    with pytest.raises(RetryRequested) as info:
        make_context().retry()

    assert info.value.countdown is None
    assert info.value.policy is None


@pytest.mark.parametrize("countdown", [0, 30, 2.5])
def test_retry_carries_the_countdown(countdown: float) -> None:
    with pytest.raises(RetryRequested) as info:
        make_context().retry(countdown=countdown)

    assert info.value.countdown == countdown


def test_retry_carries_the_policy() -> None:
    policy = RetryPolicy.fixed(10)

    with pytest.raises(RetryRequested) as info:
        make_context().retry(policy=policy)

    assert info.value.policy is policy


def test_retry_requested_passes_through_a_task_catching_exception() -> None:
    # So that a task's own `except Exception:` cannot swallow the requested retry.
    assert not issubclass(RetryRequested, Exception)


@pytest.mark.parametrize("countdown", [-1, math.nan, math.inf, True, "10"])
def test_retry_refuses_a_bad_countdown(countdown: Any) -> None:
    with pytest.raises(InvalidTaskOptions) as info:
        make_context().retry(countdown=countdown)

    assert str(info.value) == f"countdown must be seconds >= 0, got {countdown!r}."


@pytest.mark.parametrize("policy", [5, {"kind": "fixed", "delay": 1}, "exponential"])
def test_retry_refuses_a_policy_that_is_not_a_retry_policy(policy: Any) -> None:
    with pytest.raises(InvalidTaskOptions) as info:
        make_context().retry(policy=policy)

    assert str(info.value) == f"policy must be a RetryPolicy, got {policy!r}."


@pytest.mark.parametrize("seconds", [float("inf"), 1e12])
def test_extend_lease_refuses_endless_or_huge_extensions(seconds: float) -> None:
    context = make_context(FakeReporter())
    with pytest.raises(InvalidTaskOptions, match="extend_lease needs seconds from 0 to 604800"):
        context.extend_lease(seconds)


def _cancelled(reporter: FakeReporter) -> None:
    reporter.cancel = CancelRequest(
        task_id="task-1",
        attempt=1,
        requested_at=datetime.now(UTC),
        by="alice",
        reason="wrong file",
        waited=0.0,
    )


def test_a_task_not_cancelled_checks_and_reports_as_before(reporter: FakeReporter) -> None:
    context = make_context(reporter)
    assert context.is_cancelled is False
    context.check_cancelled()
    context.report_progress(0.5)
    context.heartbeat()
    assert reporter.progress == [(0.5, {})]
    assert reporter.leases == [None]


def test_a_cancelled_task_sees_it_and_every_check_raises_task_cancelled(
    reporter: FakeReporter,
) -> None:
    context = make_context(reporter)
    _cancelled(reporter)
    assert context.is_cancelled is True
    for call in (
        context.check_cancelled,
        lambda: context.report_progress(0.5),
        context.heartbeat,
    ):
        with pytest.raises(TaskCancelled, match="cancelled by alice: wrong file"):
            call()
    assert reporter.progress == []
    assert reporter.leases == []


def test_task_cancelled_is_not_an_exception_a_task_swallows_by_accident() -> None:
    assert not issubclass(TaskCancelled, Exception)


def test_progress_message_is_passed_apart_from_the_details(reporter: FakeReporter) -> None:
    make_context(reporter).report_progress(0.5, "Importing rows", rows=5)
    make_context(reporter).report_progress(0.75, message="Almost there")
    make_context(reporter).report_progress(1)

    assert reporter.progress == [(0.5, {"rows": 5}), (0.75, {}), (1.0, {})]
    assert reporter.messages == ["Importing rows", "Almost there", None]


def test_progress_message_is_made_storable_and_cut_short(reporter: FakeReporter) -> None:
    make_context(reporter).report_progress(0.5, "a\x00b\udcff")
    make_context(reporter).report_progress(0.5, "x" * 10_000)

    assert reporter.messages[0] == "a\\x00b\\udcff"
    assert reporter.messages[1] == "x" * (MAX_PROGRESS_MESSAGE_CHARS - 1) + "…"


def test_progress_message_that_is_not_text_is_refused(reporter: FakeReporter) -> None:
    with pytest.raises(InvalidTaskOptions, match="progress message must be text"):
        make_context(reporter).report_progress(0.5, 42)  # type: ignore[arg-type]

    assert reporter.progress == []
