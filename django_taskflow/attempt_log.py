"""The worker's line for each finished attempt and each progress report, and its pieces.

``succeeded myapp.tasks.add[…c4d854] in 1.2 ms → 5``: the outcome, the
task's short label, how long the attempt took, and its result or error,
cut to fit. The line is built lazily (:class:`AttemptLine` renders only
when a handler formats it), so a worker whose ``django_taskflow`` logger
is above INFO pays one ``isEnabledFor`` check per recorded batch. The
formats and the default setup are in ``logs.py``.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from django_taskflow.encoding import fields as sealed_fields
from django_taskflow.encoding import stored as stored_encoding
from django_taskflow.states import AttemptOutcome, Status

if TYPE_CHECKING:
    from django_taskflow.transitions import Completion, Note

SHORT_ID_LENGTH = 6
_SHORT_ID_MASK = (1 << (4 * SHORT_ID_LENGTH)) - 1  # its last hex digits
RESULT_WIDTH = 80
MESSAGE_WIDTH = 200

_OUTCOME_WORDS = {
    Status.SUCCEEDED: "succeeded",
    Status.QUEUED: "retrying",
    Status.FAILED: "failed",
    Status.CANCELLED: "cancelled",
}


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
            if outcome.result_json is not None and _is_encrypted(task.encoding):
                result = sealed_fields.REDACTED
            text += f" → {truncate(result, RESULT_WIDTH)}"
        elif outcome.error_class:
            error = outcome.error_class.rpartition(".")[2]
            # An encrypted task's error texts are sealed (a cancelled attempt's
            # message holds one after its plain prefix): never logged as ciphertext.
            message = truncate(sealed_fields.redact_text(outcome.error_message), MESSAGE_WIDTH)
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


def _is_encrypted(encoding: str | None) -> bool:
    return encoding is not None and stored_encoding.read(encoding).key_id is not None


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
            if _is_encrypted(task.encoding):
                text += " " + sealed_fields.REDACTED
            else:
                text += " " + truncate(json.dumps(detail, default=str), RESULT_WIDTH)
        return text
