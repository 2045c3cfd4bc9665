"""The runnable examples of the how-to guides (``testproject/docs_examples``), run for real.

Also checks that the code the pages copy still matches the example files:
a fenced block placed right after ``<!-- example: path -->`` must appear,
as it is, in that file.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.db import connections
from django.tasks import TaskResultStatus
from django.utils import timezone

from django_taskflow import RetryPolicy, Timeout, events, models, recovery
from django_taskflow.contrib.middleware import MetricsMiddleware
from django_taskflow.execution import middleware as middleware_chain
from django_taskflow.states import AttemptOutcome, Status
from django_taskflow.testing import run_tasks
from testproject.docs_examples import (
    cancelling,
    crashes,
    events_and_hooks,
    middleware,
    queues,
    retries,
    timeouts,
)
from tests.conftest import claim_for, expire_leases

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]
BACKEND = "django_taskflow.backend.TaskflowBackend"
QUEUES = ["default", "emails", "reports"]


@pytest.fixture(autouse=True)
def fresh_stand_ins() -> Iterator[None]:
    """Each test starts with empty stand-in services and no hooks or added middleware."""

    def reset() -> None:
        for service in (retries.storage, retries.rates_api, retries.crm, retries.partner):
            service.answers.clear()
        retries.PRICES.clear()
        events_and_hooks.SAVED.clear()
        events_and_hooks.REPORTS.clear()
        events_and_hooks.FINISHED.clear()
        middleware.FEEDS.clear()
        middleware_chain.clear()
        MetricsMiddleware.reset()

    reset()
    yield
    events_and_hooks.uninstall()
    reset()


def row(task_id: str) -> models.Task:
    return models.Task.objects.get(pk=task_id)


def outcomes(task_id: str) -> list[str]:
    return list(
        models.Attempt.objects.filter(task_id=task_id)
        .order_by("number")
        .values_list("outcome", flat=True)
    )


def run_at(moment: datetime) -> int:
    return run_tasks(now=lambda: moment)


def retry_delays(task_id: str, start: datetime, rounds: int = 10) -> list[float]:
    """Run the task at each retry's due time; return the delays the policy chose."""
    clock, delays = start, []
    for _ in range(rounds):
        run_at(clock)
        current = row(task_id)
        if current.status != Status.QUEUED:
            break
        delays.append((current.run_after - clock).total_seconds())
        clock = current.run_after
    return delays


# -- the pages quote the example files faithfully ------------------------------------

EXAMPLE_BLOCK = re.compile(r"<!-- example: (?P<path>\S+) -->\s*```python\n(?P<code>.*?)```", re.S)


def quoted_blocks() -> list[tuple[str, str, str]]:
    found = []
    for page in sorted((ROOT / "docs").rglob("*.md")):
        for match in EXAMPLE_BLOCK.finditer(page.read_text()):
            found.append((str(page.relative_to(ROOT)), match["path"], match["code"]))
    return found


def test_the_pages_quote_the_examples() -> None:
    quoted = {path for _page, path, _code in quoted_blocks()}
    assert quoted == {
        "testproject/docs_examples/retries.py",
        "testproject/docs_examples/timeouts.py",
        "testproject/docs_examples/events_and_hooks.py",
        "testproject/docs_examples/middleware.py",
        "testproject/docs_examples/crashes.py",
        "testproject/docs_examples/dedup.py",
        "testproject/docs_examples/cancelling.py",
        "testproject/docs_examples/operating.py",
        "testproject/docs_examples/queues.py",
        "testproject/docs_examples/schedules.py",
        "testproject/docs_examples/limits.py",
        "testproject/docs_examples/alerts.py",
        "testproject/docs_examples/payloads.py",
        "testproject/docs_examples/api.py",
        "testproject/docs_examples/flows.py",
        "testproject/docs_examples/services.py",
    }


@pytest.mark.parametrize(
    ("page", "path", "code"),
    quoted_blocks(),
    ids=[f"{page}:{path}:{n}" for n, (page, path, _code) in enumerate(quoted_blocks())],
)
def test_quoted_code_matches_the_example_file(page: str, path: str, code: str) -> None:
    assert code in (ROOT / path).read_text(), f"{page} quotes code that {path} no longer has"


# -- retries ---------------------------------------------------------------------


def test_default_policy_gives_the_delays_in_the_table() -> None:
    default = RetryPolicy.DEFAULT
    assert default == RetryPolicy.exponential()
    without_jitter = RetryPolicy.exponential(jitter=False)
    assert [without_jitter.delay_for(n) for n in range(1, 12)] == [
        1, 2, 4, 8, 16, 32, 64, 128, 256, 300, 300,
    ]  # fmt: skip


def test_rejected_status_code_is_retried_after_the_backoff() -> None:
    retries.storage.answers[:] = [503, 200]
    result = retries.upload_file.enqueue("report.pdf")
    clock = timezone.now()
    run_at(clock)
    first = row(result.id)
    assert first.status == Status.QUEUED
    assert 0 <= (first.run_after - clock).total_seconds() <= 2  # full jitter of 2 s
    assert first.attempt_set.get().error_value == 503
    run_at(first.run_after)
    result.refresh()
    assert result.return_value == 200
    assert [e.exception_class_path for e in result.errors] == [
        "django_taskflow.exceptions.ResultRejected"
    ]


def test_status_415_fails_at_once() -> None:
    retries.storage.answers[:] = [415]
    result = retries.upload_file.enqueue("photo.heic")
    run_tasks()
    assert row(result.id).status == Status.FAILED
    assert outcomes(result.id) == [AttemptOutcome.FAILED]


def test_network_error_of_the_upload_goes_to_retry_if_too() -> None:
    retries.storage.answers[:] = [ConnectionError("reset"), 200]
    result = retries.upload_file.enqueue("report.pdf")
    clock = timezone.now()
    run_at(clock)
    run_at(row(result.id).run_after)
    result.refresh()
    assert result.return_value == 200


def test_using_overrides_the_policy_for_one_enqueue() -> None:
    retries.storage.answers[:] = [503]
    result = retries.upload_file.using(retry=RetryPolicy.fixed(30)).enqueue("big.iso")
    clock = timezone.now()
    run_at(clock)
    assert row(result.id).run_after == clock + timedelta(seconds=30)


def test_linear_policy_waits_10_20_then_30_seconds() -> None:
    retries.rates_api.answers[:] = [TimeoutError("slow")] * 4
    result = retries.fetch_exchange_rates.enqueue("2026-11-26")
    assert retry_delays(result.id, timezone.now()) == [10, 20, 30]
    assert row(result.id).status == Status.FAILED


@pytest.mark.parametrize("error", [ConnectionRefusedError("refused"), ValueError("bad day")])
def test_errors_not_worth_a_retry_fail_at_once(error: Exception) -> None:
    retries.rates_api.answers[:] = [error]
    result = retries.fetch_exchange_rates.enqueue("2026-11-26")
    run_tasks()
    assert row(result.id).status == Status.FAILED
    assert outcomes(result.id) == [AttemptOutcome.FAILED]


def test_context_retry_waits_as_long_as_asked() -> None:
    retries.crm.answers[:] = [retries.RateLimited(42)]
    result = retries.sync_account.enqueue(7)
    clock = timezone.now()
    run_at(clock)
    assert row(result.id).run_after == clock + timedelta(seconds=42)
    run_at(clock + timedelta(seconds=42))
    result.refresh()
    assert result.return_value == "synced"
    assert outcomes(result.id) == [AttemptOutcome.RETRY_REQUESTED, AttemptOutcome.SUCCEEDED]


def test_custom_policy_is_stored_by_path_and_gives_its_delays() -> None:
    retries.partner.answers[:] = [ConnectionError("down")] * 4
    result = retries.notify_partner.enqueue(17)
    assert row(result.id).retry_policy == {
        "kind": "custom",
        "max_attempts": None,
        "path": "testproject.docs_examples.retries.partner_backoff",
    }
    assert retry_delays(result.id, timezone.now()) == [5, 30, 300]


def test_dataclass_result_is_stored_as_a_dict_and_returned_as_the_dataclass() -> None:
    retries.PRICES[12] = 4_990
    result = retries.build_invoice.enqueue(12)
    run_tasks()
    result.refresh()
    assert models.Task.objects.get(pk=result.id).result == {
        "number": "INV-00012",
        "total_cents": 4990,
    }
    assert result.return_value == retries.Invoice(number="INV-00012", total_cents=4990)


def test_result_of_the_wrong_type_fails_with_result_type_mismatch() -> None:
    retries.PRICES[13] = "49.90"
    result = retries.build_invoice.enqueue(13)
    run_tasks()
    attempt = models.Attempt.objects.get(task_id=result.id)
    assert attempt.error_class == "django_taskflow.exceptions.ResultTypeMismatch"
    assert attempt.error_message == "the result['total_cents'] is str '49.90', expected int."


def test_project_wide_policy_from_the_settings_page(settings: Any) -> None:
    settings.TASKS = {
        "default": {
            "BACKEND": BACKEND,
            "QUEUES": QUEUES,
            "OPTIONS": {
                "RETRY_POLICY": {
                    "kind": "exponential",
                    "initial_delay": 5,
                    "max_delay": 600,
                    "max_attempts": 5,
                },
            },
        }
    }
    result = retries.build_invoice.enqueue(99)  # no price: KeyError, retried
    clock = timezone.now()
    run_at(clock)
    current = row(result.id)
    assert current.max_attempts == 5
    assert 0 <= (current.run_after - clock).total_seconds() <= 5


# -- time limits ------------------------------------------------------------------


def test_time_limits_are_stored_with_each_task() -> None:
    report = timeouts.export_report.enqueue(3, 250)
    ping = timeouts.ping_partner.enqueue("https://partner.example")
    pdf = timeouts.build_pdf.enqueue("invoice.pdf")
    plain = retries.build_invoice.enqueue(1)
    limits = {
        str(r.id): (r.timeout_soft, r.timeout_hard)
        for r in models.Task.objects.filter(pk__in=[report.id, ping.id, pdf.id, plain.id])
    }
    assert limits == {
        report.id: (60, 300),
        ping.id: (10, 30),
        pdf.id: (None, 3600),
        plain.id: (None, None),  # DEFAULT_TIMEOUT is None: no limit, as in Django
    }


def test_tasks_with_limits_run_under_run_tasks_and_report_progress() -> None:
    report = timeouts.export_report.enqueue(3, 250)
    pdf = timeouts.build_pdf.enqueue("invoice.pdf")
    run_tasks()
    report.refresh()
    pdf.refresh()
    assert report.return_value == {"report": 3, "rows": 250}
    assert pdf.return_value == len(b"invoice.pdf")
    progress = [
        (e.progress, e.data["detail"])
        for e in events.stream(task=report.id, kinds=["progress"], after=0, follow=False)
    ]
    assert progress == [(0.4, {"rows": 100}), (0.8, {"rows": 200}), (1.0, {"rows": 250})]
    assert (row(report.id).progress, row(report.id).progress_detail) == (1.0, {"rows": 250})


def test_soft_timeout_callback_logs_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    context = SimpleNamespace(task_id="0190-abc", attempt=1, max_attempts=2)
    with caplog.at_level(logging.WARNING, logger=timeouts.__name__):
        timeouts.warn_slow_export(context)  # type: ignore[arg-type]
    assert caplog.messages == ["export 0190-abc is slow (attempt 1 of 2)"]
    assert timeouts.export_report.timeout.on_soft_timeout is timeouts.warn_slow_export


def test_timeout_presets_and_the_limits_derived_from_the_other() -> None:
    assert Timeout() == Timeout.MODERATE
    assert [(t.soft, t.hard) for t in (Timeout.QUICK, Timeout.MODERATE, Timeout.EXTENDED)] == [
        (10, 30),
        (300, 600),
        (3600, 7200),
    ]
    derived = [Timeout(hard=60), Timeout(hard=900), Timeout(soft=30), Timeout(soft=900)]
    assert [(t.soft, t.hard) for t in derived] == [(30, 60), (300, 900), (30, 600), (900, 1800)]
    assert Timeout(soft=None, hard=60).to_json() == {"soft": None, "hard": 60}
    assert Timeout(soft=30, hard=None).to_json() == {"soft": 30, "hard": None}


def test_default_timeout_applies_to_tasks_without_one(settings: Any) -> None:
    settings.TASKS = {
        "default": {
            "BACKEND": BACKEND,
            "QUEUES": QUEUES,
            "OPTIONS": {"DEFAULT_TIMEOUT": {"soft": None, "hard": 60}},
        }
    }
    plain = retries.build_invoice.enqueue(1)
    own = timeouts.ping_partner.enqueue("https://partner.example")
    assert (row(plain.id).timeout_soft, row(plain.id).timeout_hard) == (None, 60)
    assert (row(own.id).timeout_soft, row(own.id).timeout_hard) == (10, 30)


# -- events, monitor, hooks and signals --------------------------------------------


ROWS = [{"email": "ada@example.com"}, {"email": "grace@example.com"}]


def test_monitor_follows_an_import_from_queued_to_done() -> None:
    events_and_hooks.install()
    result = events_and_hooks.import_contacts.using(key="upload-17").enqueue(ROWS)
    run_tasks()
    assert events_and_hooks.follow(result.id, timeout=5) == [
        "waiting for a worker",
        "attempt 1: 0%",
        "attempt 1: 50%",
        "attempt 1: 100%",
        "done: 2",
    ]
    assert events_and_hooks.SAVED == ROWS
    assert events_and_hooks.FINISHED == {
        "testproject.docs_examples.events_and_hooks.import_contacts": 1
    }
    assert events_and_hooks.failed_imports() == []


def test_a_failed_import_reaches_the_error_tracker_and_failures() -> None:
    events_and_hooks.install()
    bad = [ROWS[0], {"email": "nobody"}]
    result = events_and_hooks.import_contacts.using(key="upload-18").enqueue(bad)
    run_tasks()
    error = "builtins.ValueError: row 2 has no email address"
    reports = events_and_hooks.REPORTS
    assert reports == [
        {
            "message": f"testproject.docs_examples.events_and_hooks.import_contacts failed: {error}",
            "task_id": result.id,
            "key": "upload-18",
            "tags": ["imports"],
            "attempts": [error],
        }
    ]
    assert events_and_hooks.failed_imports() == [f"upload-18: {error}"]
    assert events_and_hooks.follow(result.id, timeout=5)[-1] == f"failed: {error}"


def test_retrying_signal_and_monitor_show_each_retry(caplog: pytest.LogCaptureFixture) -> None:
    events_and_hooks.install()
    retries.rates_api.answers[:] = [TimeoutError("slow")]
    result = retries.fetch_exchange_rates.enqueue("2026-11-26")
    clock = timezone.now()
    with caplog.at_level(logging.WARNING, logger=events_and_hooks.__name__):
        run_at(clock)
    retry_at = (clock + timedelta(seconds=10)).isoformat()
    assert caplog.messages == [
        "testproject.docs_examples.retries.fetch_exchange_rates attempt 1 failed "
        f"(builtins.TimeoutError: slow); retrying at {retry_at}"
    ]
    run_at(clock + timedelta(seconds=10))
    assert events_and_hooks.follow(result.id, timeout=5) == [
        "waiting for a worker",
        "attempt 1: 0%",
        "attempt 1 failed (builtins.TimeoutError: slow); retrying",
        "attempt 2: 0%",
        "done: {'EUR': 1.0, 'USD': 1.08}",
    ]
    [retried] = events.errors(task=result.id, after=0, follow=False)
    assert (retried.kind, retried.attempt, str(retried.error)) == (
        "retrying",
        1,
        "builtins.TimeoutError: slow",
    )


@pytest.mark.django_db(transaction=True)
def test_async_helpers_follow_a_task() -> None:
    result = events_and_hooks.import_contacts.enqueue(ROWS)
    run_tasks()

    async def collect() -> tuple[list[str], list[str]]:
        try:
            updates = [u async for u in events_and_hooks.progress_updates(result.id, timeout=5)]
            return updates, await events_and_hooks.afollow(result.id, timeout=5)
        finally:
            await sync_to_async(connections.close_all)()

    updates, states = asyncio.run(collect())
    assert updates == ["50%", "100%", "succeeded"]
    assert states[-1] == "done: 2"


# -- middleware -------------------------------------------------------------------


@pytest.fixture
def feed_middleware(settings: Any) -> middleware.FeedCache:
    settings.TASKS = {
        "default": {
            "BACKEND": BACKEND,
            "QUEUES": QUEUES,
            "OPTIONS": {
                "MIDDLEWARE": [
                    "django_taskflow.contrib.middleware.LoggingMiddleware",
                    "testproject.docs_examples.middleware.translate_network_errors",
                ]
            },
        }
    }
    cache = middleware.FeedCache()
    middleware_chain.use(middleware.correlation_id, cache)
    return cache


def test_middleware_enriches_the_context_and_short_circuits(
    feed_middleware: middleware.FeedCache,
) -> None:
    url = "https://example.com/feed"
    middleware.FEEDS[url] = ["Hello"]
    first = middleware.fetch_feed.enqueue(url)
    run_tasks()
    first.refresh()
    assert first.return_value == [f"[{first.id[:8]}-1] Hello"]
    middleware.FEEDS[url] = ["Changed"]
    second = middleware.fetch_feed.enqueue(url)
    run_tasks()
    second.refresh()
    assert second.return_value == first.return_value  # served from the cache
    assert feed_middleware.cache == {url: first.return_value}


def test_middleware_transforms_the_error_so_that_retry_on_applies(
    feed_middleware: middleware.FeedCache, caplog: pytest.LogCaptureFixture
) -> None:
    result = middleware.fetch_feed.enqueue("https://unreachable.example/feed")
    with caplog.at_level(logging.WARNING, logger="django_taskflow.tasks"):
        run_tasks()
    result.refresh()
    assert result.status == TaskResultStatus.FAILED
    assert [e.exception_class_path for e in result.errors] == ["builtins.ConnectionError"] * 3
    assert caplog.messages[0].startswith(
        "testproject.docs_examples.middleware.fetch_feed attempt 1 raised ConnectionError after"
    )


def test_charge_that_lost_its_worker_fails_instead_of_charging_twice() -> None:
    crashes.CHARGES.clear()
    result = crashes.charge_card.enqueue("tok_visa", 4200)
    claim_for("dead-worker")
    expire_leases("dead-worker")
    recovery.recover_expired("default", timezone.now())
    run_tasks()

    row = models.Task.objects.get(pk=result.id)
    assert row.status == Status.FAILED
    assert row.attempt_set.get().error_class == "django_taskflow.exceptions.WorkerLost"
    assert crashes.CHARGES == []  # never run again by the worker


def test_cancelling_a_running_import_stops_it_between_rows_and_cleans_up(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from django_taskflow import cancel

    waiting = cancelling.import_rows.enqueue([1, 2, 3])
    assert cancelling.stop_the_imports("ops") == 1
    running = cancelling.import_rows.enqueue([4, 5, 6])

    class CancelAfterFirstRow(list[int]):
        def append(self, row: int) -> None:
            super().append(row)
            cancel(running.id, by="ops")  # as if from the admin, mid-run

    imported = CancelAfterFirstRow()
    monkeypatch.setattr(cancelling, "IMPORTED", imported)
    monkeypatch.setattr(cancelling, "CLEANED", [])
    run_tasks()
    assert models.Task.objects.get(pk=waiting.id).status == Status.CANCELLED
    row = models.Task.objects.get(pk=running.id)
    assert row.status == Status.CANCELLED
    assert imported == [4]  # stopped at the progress report after the first row
    assert [running.id] == cancelling.CLEANED
    assert cancelling.last_failed_imports() == []


# -- queues ----------------------------------------------------------------------


def test_queue_examples_pause_limit_and_capabilities(monkeypatch: pytest.MonkeyPatch) -> None:
    from django_taskflow import pause_queue, resume_queue, set_queue_limit

    monkeypatch.setattr("django_taskflow.operations.time.sleep", lambda seconds: None)
    queues.SENT.clear()
    queues.FRAMES.clear()
    queues.send_password_reset.enqueue("ada@example.com")
    newsletter = queues.send_newsletter.enqueue("bob@example.com")
    frame = queues.render_frame.enqueue("intro")
    pause_queue("emails")
    run_tasks()
    assert queues.SENT == ["reset:ada@example.com"]
    assert row(newsletter.id).status == Status.QUEUED
    assert row(frame.id).status == Status.QUEUED  # no worker offers a GPU
    resume_queue("emails")
    set_queue_limit("emails", 2)
    run_tasks(capabilities=["gpu", "eu-west"])
    assert queues.SENT == ["reset:ada@example.com", "newsletter:bob@example.com"]
    assert queues.FRAMES == ["intro"]
    set_queue_limit("emails", None)
