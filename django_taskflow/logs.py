"""How the worker's log reads: two formats and a default setup.

The per-attempt line itself is built in ``attempt_log.py``.

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
from datetime import UTC, datetime
from typing import Any, Literal

from django_taskflow.attempt_log import short_id, task_label

LOGGER_NAME = "django_taskflow"
DJANGO_TASKS_LOGGER = "django.tasks"

type LogFormat = Literal["text", "json"]
LOG_FORMATS: tuple[LogFormat, ...] = ("text", "json")


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
