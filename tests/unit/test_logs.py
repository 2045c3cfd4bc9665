"""The worker's log lines: what one finished attempt says, in text and JSON."""

from __future__ import annotations

import dataclasses
import io
import json
import logging
import re
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import pytest

from django_taskflow import attempt_log, logs
from django_taskflow.claim import ClaimedTask
from django_taskflow.execution.outcome import Outcome
from django_taskflow.models import EventKind
from django_taskflow.states import AttemptOutcome, Status
from django_taskflow.transitions import Completion, Note

TASK_ID = uuid.UUID("01a24924-247b-7290-a04b-46ac47c4d854")
FINISHED = datetime(2026, 5, 4, 12, 4, 31, tzinfo=UTC)


def claimed(path: str = "myapp.tasks.add", attempt: int = 1) -> ClaimedTask:
    return ClaimedTask(
        id=TASK_ID,
        task_path=path,
        backend="default",
        queue_name="default",
        priority=0,
        args=[],
        kwargs={},
        attempt=attempt,
        lost_attempts=0,
        on_lost="requeue",
        max_attempts=3,
        retry_policy={},
        timeout_soft=None,
        timeout_hard=None,
        key=None,
        tags=[],
        run_after=FINISHED,
        enqueued_at=FINISHED,
        started_at=None,
    )


def completion(outcome: Outcome, seconds: float = 0.0012) -> Completion:
    return Completion(
        task=claimed(),
        outcome=outcome,
        started_at=FINISHED - timedelta(seconds=seconds),
        finished_at=FINISHED,
    )


def record(message: str, *args: object, **extra: object) -> logging.LogRecord:
    made = logging.LogRecord(
        "django_taskflow.transitions", logging.INFO, __file__, 1, message, args, None
    )
    made.__dict__.update(extra)
    made.created = FINISHED.timestamp()
    return made


@pytest.fixture
def utc_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    """Local time is UTC, so clock readings in lines are predictable."""
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()


def test_short_id_is_the_tail_of_the_id() -> None:
    # The head of a time-ordered id is its timestamp, shared by tasks
    # enqueued together; the tail tells them apart.
    assert attempt_log.short_id(TASK_ID) == "…c4d854"


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0.00004, "0.04 ms"),
        (0.0012, "1.2 ms"),
        (0.25, "250 ms"),
        (2.5, "2.50 s"),
        (12.5, "12.5 s"),
        (185, "3 min 05 s"),
        (7500, "2 h 05 min"),
        (273_600, "3 d 04 h"),
    ],
)
def test_durations_read_in_the_unit_that_fits(seconds: float, text: str) -> None:
    assert attempt_log.format_duration(seconds) == text


def test_a_success_line_has_name_short_id_duration_and_value() -> None:
    line = attempt_log.AttemptLine(
        completion(
            Outcome(
                status=Status.SUCCEEDED, attempt_outcome=AttemptOutcome.SUCCEEDED, result_json="5"
            )
        )
    )
    assert str(line) == "succeeded myapp.tasks.add[…c4d854] in 1.2 ms → 5"


def test_a_long_return_value_is_truncated_on_one_line() -> None:
    value = json.dumps({"text": "x" * 500, "more": "line\nbreak"})
    line = str(
        attempt_log.AttemptLine(
            completion(
                Outcome(
                    status=Status.SUCCEEDED,
                    attempt_outcome=AttemptOutcome.SUCCEEDED,
                    result_json=value,
                )
            )
        )
    )
    shown = line.split(" → ", 1)[1]
    assert len(shown) == attempt_log.RESULT_WIDTH
    assert shown.endswith("…")
    assert "\n" not in line


def test_an_error_message_cannot_move_the_cursor_or_restyle_the_terminal() -> None:
    outcome = Outcome(
        status=Status.FAILED,
        attempt_outcome=AttemptOutcome.FAILED,
        error_class="builtins.ValueError",
        error_message="Bad Request\r\nretry later\rFAKE\x1b[2J\x07\tend",
    )
    line = str(attempt_log.AttemptLine(completion(outcome, seconds=0.03)))
    assert line == (
        "failed myapp.tasks.add[…c4d854] in 30 ms: ValueError: "
        "Bad Request ⏎ retry later ⏎ FAKE\\x1b[2J\\x07\tend"
    )


def test_a_huge_value_is_cut_from_its_head() -> None:
    assert attempt_log.truncate("x" * 10_000_000, 10) == "x" * 9 + "…"
    assert attempt_log.truncate("x" * 10, 10) == "x" * 10
    assert attempt_log.truncate("x" * 9 + "\n", 10) == "x" * 9 + "…"  # the line break widens it


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("héllo → 5", "héllo → 5"),  # short and printable: as it is
        ("a\u200bb", "a\u200bb"),  # not printable, but no control character
        ("a\tb", "a\tb"),  # a tab stays
        ("a\rb", "a ⏎ b"),
        ("a\x1bb", "a\\x1bb"),
    ],
)
def test_a_short_text_is_shown_whole_with_its_control_characters_escaped(
    text: str, shown: str
) -> None:
    assert attempt_log.truncate(text, 80) == shown


def test_a_retry_line_has_the_error_and_when_the_next_attempt_is_due(utc_clock: None) -> None:
    outcome = Outcome(
        status=Status.QUEUED,
        attempt_outcome=AttemptOutcome.FAILED,
        error_class="builtins.ConnectionError",
        error_message="smtp refused",
        retry_at=FINISHED + timedelta(seconds=10),
    )
    assert str(attempt_log.AttemptLine(completion(outcome, seconds=0.03))) == (
        "retrying myapp.tasks.add[…c4d854] in 30 ms: ConnectionError: smtp refused; "
        "next attempt at 12:04:41 (in 10.0 s)"
    )


def test_a_retry_due_on_another_day_shows_its_date(utc_clock: None) -> None:
    outcome = Outcome(
        status=Status.QUEUED,
        attempt_outcome=AttemptOutcome.FAILED,
        error_class="builtins.ConnectionError",
        error_message="smtp refused",
        retry_at=FINISHED + timedelta(days=2, hours=3),
    )
    assert str(attempt_log.AttemptLine(completion(outcome, seconds=0.03))).endswith(
        f"; next attempt at {(FINISHED + timedelta(days=2, hours=3)):%Y-%m-%d %H:%M:%S} (in 2 d 03 h)"
    )


def test_a_final_failure_line_has_the_error_class_and_message() -> None:
    outcome = Outcome(
        status=Status.FAILED,
        attempt_outcome=AttemptOutcome.TIMED_OUT,
        error_class="django_taskflow.exceptions.HardTimeLimitExceeded",
        error_message="the attempt ran past its hard time limit (1 s)",
    )
    assert str(attempt_log.AttemptLine(completion(outcome, seconds=1.004))) == (
        "failed myapp.tasks.add[…c4d854] in 1.00 s: HardTimeLimitExceeded: "
        "the attempt ran past its hard time limit (1 s)"
    )


def test_a_progress_line_has_the_fraction_and_detail() -> None:
    note = Note(
        task=claimed("myapp.tasks.resize"),
        kind=EventKind.PROGRESS,
        at=FINISHED,
        data={"progress": 0.4, "detail": {"step": 2}},
    )
    assert (
        str(attempt_log.ProgressLine(note))
        == 'progress myapp.tasks.resize[…c4d854] 40% {"step": 2}'
    )


def test_text_format_is_time_level_message(utc_clock: None) -> None:
    formatted = logs.TextFormatter().format(
        record("%s", "succeeded myapp.tasks.add[…c4d854] in 1.2 ms → 5", task_id=str(TASK_ID))
    )
    assert formatted == "12:04:31 INFO  succeeded myapp.tasks.add[…c4d854] in 1.2 ms → 5"


def test_text_format_names_the_task_of_a_line_that_carries_only_its_id(
    utc_clock: None,
) -> None:
    line = record("a soft limit passed", task_id=str(TASK_ID))
    line.levelno, line.levelname = logging.WARNING, "WARNING"
    formatter = logs.TextFormatter()
    assert formatter.format(line) == "12:04:31 WARNING a soft limit passed (task[…c4d854])"
    line.task_name = "myapp.tasks.slow"
    assert formatter.format(line).endswith("a soft limit passed (myapp.tasks.slow[…c4d854])")


def test_text_format_shortens_a_full_id_in_the_message(utc_clock: None) -> None:
    # As the watchdog logs a time limit: the full id in the message and in extra.
    line = record(
        "task %s passed its hard time limit (%g s); interrupting it",
        TASK_ID,
        1.0,
        action="hard_timeout",
        task_id=str(TASK_ID),
    )
    formatter = logs.TextFormatter()
    assert formatter.format(line) == (
        "12:04:31 INFO  task …c4d854 passed its hard time limit (1 s); interrupting it"
    )
    line.task_name = "myapp.tasks.slow"
    assert "task myapp.tasks.slow[…c4d854] passed its hard time limit" in formatter.format(line)


def test_text_format_adds_the_traceback_of_an_exception(utc_clock: None) -> None:
    try:
        raise RuntimeError("recorder broke")
    except RuntimeError:
        line = record("the recorder thread failed")
        line.exc_info = sys.exc_info()
    formatted = logs.TextFormatter().format(line)
    assert formatted.startswith("12:04:31 INFO  the recorder thread failed\nTraceback")
    assert formatted.endswith("RuntimeError: recorder broke")


def test_json_format_is_one_object_with_the_extra_fields() -> None:
    done = completion(
        Outcome(status=Status.SUCCEEDED, attempt_outcome=AttemptOutcome.SUCCEEDED, result_json="5")
    )
    line = record(
        "%s", attempt_log.AttemptLine(done), **attempt_log.attempt_extra("host:12:1", done)
    )
    formatted = logs.JsonFormatter().format(line)
    assert "\n" not in formatted
    assert json.loads(formatted) == {
        "time": "2026-05-04T12:04:31.000+00:00",
        "level": "INFO",
        "logger": "django_taskflow.transitions",
        "message": "succeeded myapp.tasks.add[…c4d854] in 1.2 ms → 5",
        "action": "task_succeeded",
        "task_id": str(TASK_ID),
        "task_name": "myapp.tasks.add",
        "worker_id": "host:12:1",
        "attempt": 1,
        "outcome": "succeeded",
        "duration": 0.0012,
    }


def test_the_lines_of_one_batch_each_carry_their_own_message_and_fields() -> None:
    failed = completion(
        Outcome(
            status=Status.QUEUED,
            attempt_outcome=AttemptOutcome.FAILED,
            error_class="builtins.ValueError",
            error_message="bad input",
            retry_at=FINISHED + timedelta(seconds=2),
        )
    )
    succeeded = Completion(
        task=dataclasses.replace(claimed("myapp.tasks.other", attempt=2), id=uuid.uuid4()),
        outcome=Outcome(
            status=Status.SUCCEEDED, attempt_outcome=AttemptOutcome.SUCCEEDED, result_json="5"
        ),
        started_at=FINISHED,
        finished_at=FINISHED,
    )
    logger = logging.getLogger("django_taskflow.test_batch")
    logger.propagate = False
    logger.setLevel(logging.INFO)
    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append  # type: ignore[method-assign]
    logger.addHandler(handler)
    try:
        attempt_log.log_attempts(logger, "host:12:1", [failed, succeeded], pathname=__file__)
    finally:
        logger.removeHandler(handler)
    first, second = records
    assert first.getMessage().startswith("retrying myapp.tasks.add[…c4d854] in 1.2 ms: ValueError")
    assert (first.action, first.error_class, first.attempt) == (  # type: ignore[attr-defined]
        "task_queued",
        "builtins.ValueError",
        1,
    )
    assert (
        second.getMessage()
        == f"succeeded myapp.tasks.other[{attempt_log.short_id(second.task_id)}] in 0.00 ms → 5"
    )  # type: ignore[attr-defined]
    assert second.task_id == str(succeeded.task.id)  # type: ignore[attr-defined]
    assert (second.action, second.attempt, second.outcome) == ("task_succeeded", 2, "succeeded")  # type: ignore[attr-defined]
    assert not hasattr(second, "error_class") and not hasattr(second, "retry_at")
    assert (second.levelno, second.name, second.pathname) == (logging.INFO, logger.name, __file__)


def test_short_id_of_a_uuid_matches_the_tail_of_its_text() -> None:
    for task_id in (TASK_ID, uuid.uuid4(), uuid.UUID(int=5)):
        assert (
            attempt_log.short_id(task_id)
            == attempt_log.short_id(str(task_id))
            == "…" + str(task_id)[-6:]
        )


def test_json_format_writes_values_json_cannot_hold_as_text() -> None:
    formatted = logs.JsonFormatter().format(record("x", when=FINISHED))
    assert json.loads(formatted)["when"] == str(FINISHED)


# -- the default setup ---------------------------------------------------------


@contextmanager
def no_root_handlers() -> Iterator[None]:
    """The root logger without handlers (pytest adds its own for each test phase)."""
    root = logging.getLogger()
    saved = list(root.handlers)
    for handler in saved:
        root.removeHandler(handler)
    try:
        yield
    finally:
        for handler in saved:
            root.addHandler(handler)


@pytest.fixture
def clean_logger() -> Iterator[logging.Logger]:
    """The package logger and ``django.tasks`` with no handlers, filters or level, restored after."""
    saved = []
    for name in (logs.LOGGER_NAME, logs.DJANGO_TASKS_LOGGER):
        logger = logging.getLogger(name)
        saved.append(
            (logger, list(logger.handlers), list(logger.filters), logger.propagate, logger.level)
        )
        for handler in list(logger.handlers):
            logger.removeHandler(handler)
        logger.filters = []
        logger.propagate, logger.level = True, logging.NOTSET
    yield logging.getLogger(logs.LOGGER_NAME)
    for logger, handlers, filters, propagate, level in saved:
        for handler in list(logger.handlers):
            logger.removeHandler(handler)
        for handler in handlers:
            logger.addHandler(handler)
        logger.filters = filters
        logger.propagate, logger.level = propagate, level


def test_without_project_logging_the_text_format_is_installed_at_info(
    clean_logger: logging.Logger,
) -> None:
    with no_root_handlers():
        assert not logs.is_configured_by_project()
        described = logs.configure(None, verbosity=1)
    assert described == (
        "text on stderr, level INFO; progress reports log at DEBUG (--verbosity 2 shows them)"
    )
    (handler,) = clean_logger.handlers
    assert isinstance(handler.formatter, logs.TextFormatter)
    assert not clean_logger.propagate
    assert not clean_logger.isEnabledFor(logging.DEBUG)


def test_project_logging_is_left_alone(clean_logger: logging.Logger) -> None:
    theirs = logging.StreamHandler(io.StringIO())
    with no_root_handlers():
        logging.getLogger().addHandler(theirs)  # configured above us, on the root logger
        assert logs.is_configured_by_project()
        described = logs.configure(None, verbosity=1)
        logging.getLogger().removeHandler(theirs)
    assert described.startswith("the project's LOGGING")
    assert clean_logger.handlers == []


def test_an_explicit_format_replaces_the_project_handlers(clean_logger: logging.Logger) -> None:
    clean_logger.addHandler(logging.StreamHandler(io.StringIO()))
    logs.configure("json", verbosity=2)
    (handler,) = clean_logger.handlers
    assert isinstance(handler.formatter, logs.JsonFormatter)
    assert clean_logger.isEnabledFor(logging.DEBUG)


@pytest.mark.parametrize(
    ("verbosity", "level"),
    [(0, logging.WARNING), (1, logging.INFO), (2, logging.DEBUG), (3, logging.DEBUG)],
)
def test_verbosity_sets_the_level(verbosity: int, level: int) -> None:
    assert logs.level_for(verbosity) == level


def test_verbosity_two_opens_debug_on_project_logging(clean_logger: logging.Logger) -> None:
    clean_logger.addHandler(logging.StreamHandler(io.StringIO()))
    clean_logger.setLevel(logging.INFO)
    described = logs.configure(None, verbosity=2)
    assert described == (
        "the project's LOGGING (logger django_taskflow, level DEBUG); "
        "progress reports shown (DEBUG)"
    )
    assert clean_logger.isEnabledFor(logging.DEBUG)


def test_configuring_twice_keeps_one_handler_of_ours(clean_logger: logging.Logger) -> None:
    with no_root_handlers():
        logs.configure(None, verbosity=1)
        assert logs.configure(None, verbosity=1).startswith("text on stderr, level INFO;")
    assert len(clean_logger.handlers) == 1
    assert logging.getLogger(logs.DJANGO_TASKS_LOGGER).handlers == clean_logger.handlers


def test_our_format_drops_djangos_task_state_lines_and_keeps_its_warnings(
    clean_logger: logging.Logger,
) -> None:
    # Django logs every task's start and end, a failure at ERROR: in the
    # worker that only doubles the per-attempt line, without a traceback.
    stream = io.StringIO()
    with no_root_handlers():
        logs.configure(None, verbosity=1)
    django_tasks = logging.getLogger(logs.DJANGO_TASKS_LOGGER)
    assert django_tasks.handlers == clean_logger.handlers
    assert not django_tasks.propagate
    (handler,) = django_tasks.handlers
    assert isinstance(handler, logging.StreamHandler)
    handler.setStream(stream)

    task_id = "01a2494c-ed1d-72c2-96b1-4db46bf16232"
    django_tasks.error(logs.DJANGO_TASK_STATE_LINE, task_id, "myapp.tasks.add", "FAILED")
    django_tasks.info(logs.DJANGO_TASK_STATE_LINE, task_id, "myapp.tasks.add", "RUNNING")
    django_tasks.info("something else")
    django_tasks.warning("something to see")

    (line,) = stream.getvalue().splitlines()
    assert re.fullmatch(r"\d\d:\d\d:\d\d WARNING something to see", line)


def test_a_level_the_project_set_on_django_tasks_is_kept(clean_logger: logging.Logger) -> None:
    django_tasks = logging.getLogger(logs.DJANGO_TASKS_LOGGER)
    django_tasks.setLevel(logging.INFO)
    with no_root_handlers():
        logs.configure(None, verbosity=1)
    assert django_tasks.handlers == []
    assert django_tasks.level == logging.INFO
