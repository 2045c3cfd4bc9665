"""How the worker's log reads: one line per finished attempt, two formats, a default setup.

The per-attempt line is built lazily (:class:`AttemptLine` renders only
when a handler formats it), so a worker whose ``django_taskflow`` logger
is above INFO pays one ``isEnabledFor`` check per recorded batch.

``configure()`` is called by ``taskworker`` before it starts. The rule:

- ``--log-format text|json`` given: that format takes over the
  ``django_taskflow`` logger of this process (its own handlers are
  replaced and it stops propagating), so a log shipper gets exactly one
  format.
- Not given: if the project configured a handler on ``django_taskflow``
  or on any logger above it (including the root logger), the project's
  configuration is used as it is. Otherwise (Django's default logging
  configures only the ``django`` loggers) the text format is installed.
- The level follows ``--verbosity`` where we install the handler: 0 is
  WARNING, 1 (the default) INFO, 2 and above DEBUG, which shows progress
  reports. The handler also takes ``django.tasks``' lines from WARNING up,
  except its task state lines (see ``_quiet_django_task_lines``). With the project's configuration, ``--verbosity 0`` or ``2``
  sets the ``django_taskflow`` logger's level, and the project's handlers
  keep their own levels.
"""

from __future__ import annotations

import json
import logging
import sys
import time
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

from django_taskflow.states import AttemptOutcome, Status

if TYPE_CHECKING:
    from django_taskflow.transitions import Completion, Note

LOGGER_NAME = "django_taskflow"
DJANGO_TASKS_LOGGER = "django.tasks"
SHORT_ID_LENGTH = 6
_SHORT_ID_MASK = (1 << (4 * SHORT_ID_LENGTH)) - 1  # its last hex digits
RESULT_WIDTH = 80
MESSAGE_WIDTH = 200

type LogFormat = Literal["text", "json"]
LOG_FORMATS: tuple[LogFormat, ...] = ("text", "json")

_OUTCOME_WORDS = {
    Status.SUCCEEDED: "succeeded",
    Status.QUEUED: "retrying",
    Status.FAILED: "failed",
    Status.CANCELLED: "cancelled",
}


# -- pieces of a line ----------------------------------------------------------


def short_id(task_id: object) -> str:
    """The tail of a task id, marked as such: ``…c4d854``.

    The tail, not the head: a time-ordered id starts with its timestamp, so
    tasks enqueued within the same minute share their first characters.
    """
    if isinstance(task_id, uuid.UUID):
        # The same characters as str(task_id)[-6:], without writing out the rest.
        return f"…{task_id.int & _SHORT_ID_MASK:0{SHORT_ID_LENGTH}x}"
    return "…" + str(task_id)[-SHORT_ID_LENGTH:]


def task_label(task_name: str | None, task_id: object) -> str:
    """``myapp.tasks.add[…c4d854]``, or ``task[…c4d854]`` when the name is unknown."""
    return f"{task_name or 'task'}[{short_id(task_id)}]"


def format_duration(seconds: float) -> str:
    """A duration as people read it: ``0.04 ms``, ``1.2 ms``, ``12 ms``, ``2.50 s``, ``12.5 s``,
    ``3 min 05 s``, ``2 h 05 min``, ``3 d 04 h`` (a retry may be days away)."""
    if seconds < 0.001:
        return f"{seconds * 1000:.2f} ms"
    if seconds < 0.01:
        return f"{seconds * 1000:.1f} ms"
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 10:
        return f"{seconds:.2f} s"
    if seconds < 60:
        return f"{seconds:.1f} s"
    if seconds < 3600:
        minutes, rest = divmod(round(seconds), 60)
        return f"{minutes} min {rest:02d} s"
    if seconds < 86400:
        hours, rest = divmod(round(seconds / 60), 60)
        return f"{hours} h {rest:02d} min"
    days, rest = divmod(round(seconds / 3600), 24)
    return f"{days} d {rest:02d} h"


# Control characters other than tab, as the backslash escapes Python prints:
# a carriage return or an escape sequence in an error message would
# otherwise overwrite or restyle the terminal's line.
_CONTROL_ESCAPES = {
    code: f"\\x{code:02x}" for code in (*range(0x20), 0x7F) if chr(code) not in "\t\n"
}


def truncate(text: str, width: int) -> str:
    """``text`` cut to ``width`` characters (an ellipsis marks the cut) on one line.

    Line breaks (``\\n``, ``\\r\\n`` or ``\\r``) show as ``⏎``, other control
    characters as escapes (``\\x1b``). Only the head of ``text`` is read,
    so a long value costs no more than a short one.
    """
    if len(text) <= width and text.isprintable():
        return text  # the common case: nothing to cut or escape (isprintable is C)
    head = text[: width + 1]  # escapes only lengthen it: enough to fill the width
    line = (
        head.replace("\r\n", "\n")
        .replace("\r", "\n")
        .replace("\n", " ⏎ ")
        .translate(_CONTROL_ESCAPES)
    )
    if len(text) <= width and len(line) <= width:
        return line
    return line[: width - 1] + "…"


def _local_clock(moment: datetime, now: datetime) -> str:
    """``12:04:41``, with the date when ``moment`` is on another local day than ``now``."""
    local = moment.astimezone()
    if local.date() == now.astimezone().date():
        return local.strftime("%H:%M:%S")
    return local.strftime("%Y-%m-%d %H:%M:%S")


class AttemptLine:
    """The message of one finished attempt, rendered only if a handler asks.

    ``succeeded myapp.tasks.add[…c4d854] in 1.2 ms → 5``,
    ``retrying myapp.tasks.send[…0b9e21] in 30 ms: TimeoutError: smtp; next
    attempt at 12:04:41 (in 2.0 s)``, ``failed …: ValueError: bad input``.
    """

    __slots__ = ("completion",)

    def __init__(self, completion: Completion) -> None:
        self.completion = completion

    def __str__(self) -> str:
        completion = self.completion
        outcome = completion.outcome
        task = completion.task
        duration = (completion.finished_at - completion.started_at).total_seconds()
        text = (
            f"{_OUTCOME_WORDS.get(outcome.status, outcome.status)} "
            f"{task_label(task.task_path, task.id)} in {format_duration(duration)}"
        )
        if outcome.status == Status.SUCCEEDED:
            result = "null" if outcome.result_json is None else outcome.result_json
            text += f" → {truncate(result, RESULT_WIDTH)}"
        elif outcome.error_class:
            error = outcome.error_class.rpartition(".")[2]
            message = truncate(outcome.error_message, MESSAGE_WIDTH)
            text += f": {error}: {message}" if message else f": {error}"
        if outcome.retry_at is not None:
            wait = (outcome.retry_at - completion.finished_at).total_seconds()
            text += (
                f"; next attempt at {_local_clock(outcome.retry_at, completion.finished_at)} "
                f"(in {format_duration(wait)})"
                if wait >= 0.001
                else "; next attempt now"
            )
        return text


# Looked up, not built, for every line: an enum's .value is a descriptor call.
_ACTIONS = {status: f"task_{status.value}" for status in Status}
_VALUES: dict[str, str] = {
    **{outcome: outcome.value for outcome in AttemptOutcome},
    **{status: status.value for status in Status},
}


def attempt_extra(worker_id: str, completion: Completion) -> dict[str, Any]:
    """The structured fields of one finished attempt (the JSON format prints them)."""
    outcome = completion.outcome
    task = completion.task
    extra: dict[str, Any] = {
        "action": _ACTIONS[outcome.status],
        "task_id": str(task.id),
        "task_name": task.task_path,
        "worker_id": worker_id,
        "attempt": task.attempt,
        "outcome": _VALUES[outcome.attempt_outcome],
        "duration": (completion.finished_at - completion.started_at).total_seconds(),
    }
    if outcome.error_class:
        extra["error_class"] = outcome.error_class
    if outcome.retry_at is not None:
        extra["retry_at"] = outcome.retry_at.isoformat()
    return extra


def log_attempts(
    logger: logging.Logger, worker_id: str, completions: Iterable[Completion], *, pathname: str
) -> None:
    """Log one INFO line (:class:`AttemptLine`) for each of ``completions``, written together.

    ``logger.makeRecord`` makes the first record, so that a project's record
    factory is used; each further line copies its fields and changes only
    the message and the ``extra`` fields. The lines are made at the same
    moment on the same thread, so the copied time, thread, process and
    asyncio task are theirs too. ``LogRecord.__init__`` (the clock, those
    names, the file name split) was a third of the cost of a line.
    ``pathname`` is the file the records name as their origin. Call it only
    when the logger is enabled for INFO.
    """
    fields: dict[str, Any] | None = None
    record_type: type[logging.LogRecord] = logging.LogRecord
    for completion in completions:
        extra = attempt_extra(worker_id, completion)
        if fields is None:
            record = logger.makeRecord(
                logger.name, logging.INFO, pathname, 0, "%s", (AttemptLine(completion),), None
            )
            record_type = type(record)
            fields = dict(vars(record))  # before a handler adds its own (message, asctime)
        else:
            record = object.__new__(record_type)
            vars(record).update(fields)
            record.args = (AttemptLine(completion),)
        vars(record).update(extra)
        logger.handle(record)


class ProgressLine:
    """The message of one progress report: ``progress myapp.tasks.resize[…c4d854] 40%``."""

    __slots__ = ("note",)

    def __init__(self, note: Note) -> None:
        self.note = note

    def __str__(self) -> str:
        task = self.note.task
        text = f"progress {task_label(task.task_path, task.id)} {self.note.data['progress']:.0%}"
        detail = self.note.data.get("detail")
        if detail:
            text += " " + truncate(json.dumps(detail, default=str), RESULT_WIDTH)
        return text


# -- formatters ----------------------------------------------------------------


class TextFormatter(logging.Formatter):
    """``12:04:31 INFO  succeeded myapp.tasks.add[…c4d854] in 1.2 ms → 5``.

    Local time (Django sets it to ``TIME_ZONE``), the level, the message. A
    record that carries ``task_id`` in ``extra`` but not the short id in its
    message gets the task's label (with ``task_name`` from ``extra`` when
    present) in place of the full id, or else at the end: every line about
    a task says which, briefly.
    """

    def __init__(self) -> None:
        super().__init__()
        self._last_clock = (-1, "")

    def _clock(self, created: float) -> str:
        # A busy worker logs many lines within one second: format it once.
        second = int(created)
        last_second, text = self._last_clock
        if second != last_second:
            text = time.strftime("%H:%M:%S", self.converter(created))
            self._last_clock = (second, text)
        return text

    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        task_id = getattr(record, "task_id", None)
        if task_id and short_id(task_id) not in message:
            message = _name_task(message, str(task_id), getattr(record, "task_name", None))
        line = f"{self._clock(record.created)} {record.levelname:<5} {message}"
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            line += "\n" + record.exc_text
        if record.stack_info:
            line += "\n" + self.formatStack(record.stack_info)
        return line


def _name_task(message: str, task_id: str, task_name: str | None) -> str:
    """Put the task's label where the message has its full id, or else at the end."""
    if task_id in message:
        return message.replace(
            task_id, task_label(task_name, task_id) if task_name else short_id(task_id)
        )
    return f"{message} ({task_label(task_name, task_id)})"


# What every LogRecord has; anything else on a record came from ``extra``.
_STANDARD_ATTRIBUTES = frozenset(
    logging.LogRecord("", logging.INFO, "", 0, "", None, None).__dict__
) | {"message", "asctime", "taskName"}


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (UTC, ISO 8601), level, logger, message, extras.

    The ``extra`` fields (``action``, ``task_id``, ``task_name``,
    ``worker_id``, ``duration``, ...) are top-level keys; a value JSON cannot
    hold is written as its ``str()``. An exception adds ``exception``.
    """

    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD_ATTRIBUTES and key not in data:
                data[key] = value
        if record.exc_info:
            data["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            data["exception"] = record.exc_text
        return json.dumps(data, default=str, ensure_ascii=False)


def formatter_for(log_format: LogFormat) -> logging.Formatter:
    return JsonFormatter() if log_format == "json" else TextFormatter()


# -- the default setup ---------------------------------------------------------


class WorkerLogHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """The handler ``configure()`` installs; not mistaken for the project's own."""


def is_configured_by_project() -> bool:
    """Whether a handler on ``django_taskflow`` or a logger above it takes its records."""
    logger: logging.Logger | None = logging.getLogger(LOGGER_NAME)
    while logger is not None:
        if any(not isinstance(handler, WorkerLogHandler) for handler in logger.handlers):
            return True
        if not logger.propagate:
            return False
        logger = logger.parent
    return False


def level_for(verbosity: int) -> int:
    """``--verbosity`` as a log level: 0 WARNING, 1 INFO, 2 and above DEBUG."""
    if verbosity <= 0:
        return logging.WARNING
    return logging.INFO if verbosity == 1 else logging.DEBUG


def configure(log_format: LogFormat | None, verbosity: int = 1) -> str:
    """Set up the ``django_taskflow`` logger for a worker (rule in the module docstring).

    Returns what the worker's banner says about its log: where it goes, at
    which level, and how to see progress reports.
    """
    logger = logging.getLogger(LOGGER_NAME)
    if log_format is None and is_configured_by_project():
        if verbosity != 1:
            logger.setLevel(level_for(verbosity))
        level = logging.getLevelName(logger.getEffectiveLevel())
        where = f"the project's LOGGING (logger {LOGGER_NAME}, level {level})"
    else:
        handler = WorkerLogHandler(sys.stderr)
        handler.setFormatter(formatter_for(log_format or "text"))
        for existing in list(logger.handlers):
            logger.removeHandler(existing)
        logger.addHandler(handler)
        logger.propagate = False
        logger.setLevel(level_for(verbosity))
        _quiet_django_task_lines(handler)
        where = f"{log_format or 'text'} on stderr, level {logging.getLevelName(logger.level)}"
    if logger.isEnabledFor(logging.DEBUG):
        return f"{where}; progress reports shown (DEBUG)"
    return f"{where}; progress reports log at DEBUG (--verbosity 2 shows them)"


# The line django.tasks logs when a task starts or ends (django/tasks/signals.py).
DJANGO_TASK_STATE_LINE = "Task id=%s path=%s state=%s"


def _is_not_a_task_state_line(record: logging.LogRecord) -> bool:
    return record.msg != DJANGO_TASK_STATE_LINE


def _quiet_django_task_lines(handler: logging.Handler) -> None:
    """Send ``django.tasks``' own lines through ``handler``, from WARNING up, minus state lines.

    Django logs every task's start and end ("Task id=... path=... state=..."):
    at INFO, and a failure at ERROR. In the worker these only double our
    per-attempt line in another format, with the full id and, since the
    worker sends ``task_finished`` after recording the attempt, no
    traceback: they are dropped. Django's other lines pass from WARNING up.
    Left alone if the project set a level or a handler on ``django.tasks``.
    """
    django_tasks = logging.getLogger(DJANGO_TASKS_LOGGER)
    ours = [each for each in django_tasks.handlers if isinstance(each, WorkerLogHandler)]
    if not ours and (django_tasks.handlers or django_tasks.level != logging.NOTSET):
        return
    for previous in ours:
        django_tasks.removeHandler(previous)
    django_tasks.addHandler(handler)
    django_tasks.addFilter(_is_not_a_task_state_line)  # added once, however often called
    django_tasks.propagate = False
    django_tasks.setLevel(logging.WARNING)
