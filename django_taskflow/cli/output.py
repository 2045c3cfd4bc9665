"""How the ``taskflow`` command prints: aligned tables for people, JSON for scripts."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.core.management.base import OutputWrapper

from django_taskflow import models

# A table's columns: header, and how to read the cell from an item.
Columns = Mapping[str, Callable[[Mapping[str, Any]], Any]]


@dataclass(frozen=True, slots=True, kw_only=True)
class Printer:
    """Where a subcommand prints, and how: ``--json`` and ``--verbosity``."""

    stdout: OutputWrapper
    stderr: OutputWrapper
    as_json: bool
    verbosity: int

    def say(self, text: str) -> None:
        """A summary line for people, silenced by ``--verbosity 0``."""
        if self.verbosity >= 1:
            self.stdout.write(text)

    def write(self, text: str) -> None:
        """Data for people, printed whatever the verbosity."""
        self.stdout.write(text)

    def warn(self, text: str) -> None:
        """A problem worth knowing that is not an error, on stderr."""
        self.stderr.write(text)

    def data(self, value: Any, render: Callable[[], str]) -> None:
        """``value`` as JSON with ``--json``, else what ``render`` makes of it."""
        self.stdout.write(to_json(value) if self.as_json else render())

    def rows(
        self,
        items: Sequence[Mapping[str, Any]],
        columns: Columns,
        *,
        empty: str,
    ) -> None:
        """``items`` as a JSON list, or a table of ``columns`` (header: cell of an item)."""
        if self.as_json:
            self.stdout.write(to_json(list(items)))
        elif not items:
            self.say(empty)
        else:
            self.stdout.write(table_of(items, columns))

    def count(self, verb: str, count: int, noun: str, *, suffix: str = "", **extra: Any) -> None:
        """``{"cancelled": 3, ...}`` with ``--json``, else ``cancelled 3 tasks``."""
        if self.as_json:
            self.stdout.write(to_json({verb.replace(" ", "_"): count, **extra}))
        else:
            self.say(f"{verb} {plural(count, noun)}{suffix}")


def plural(count: int, noun: str) -> str:
    """``1 task``, ``2 tasks``."""
    return f"{count} {noun}{'' if count == 1 else 's'}"


def table_of(items: Sequence[Mapping[str, Any]], columns: Columns) -> str:
    """A table with one column per entry of ``columns``, one row per item."""
    return table(list(columns), [[cell(item) for cell in columns.values()] for item in items])


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """Columns padded to their widest cell, separated by two spaces."""
    cells = [[cell_text(value) for value in row] for row in rows]
    widths = [max(len(text) for text in column) for column in zip(headers, *cells, strict=False)]
    lines = ["  ".join(h.upper().ljust(w) for h, w in zip(headers, widths, strict=True))]
    lines += ["  ".join(t.ljust(w) for t, w in zip(row, widths, strict=True)) for row in cells]
    return "\n".join(line.rstrip() for line in lines)


def cell_text(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, float):
        return f"{value:.3f}".rstrip("0").rstrip(".")
    return str(value)


def to_json(value: Any) -> str:
    """``value`` as indented JSON; datetimes and UUIDs as ISO strings."""
    return json.dumps(value, indent=2, default=_default, sort_keys=False)


def to_json_line(value: Any) -> str:
    """``value`` as JSON on one line, for a table cell."""
    return json.dumps(value, default=_default)


def _default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


# Columns of `taskflow list`; the large JSON columns are never read.
LIST_FIELDS = (
    "id",
    "task_path",
    "status",
    "queue_name",
    "tags",
    "attempts",
    "max_attempts",
    "enqueued_at",
    "started_at",
    "finished_at",
)


def task_summary(task: models.Task) -> dict[str, Any]:
    """One row of ``taskflow list``."""
    return {
        "id": str(task.pk),
        "name": task.task_path,
        "status": task.status,
        "queue": task.queue_name,
        "tags": task.tags,
        "attempts": task.attempts,
        "max_attempts": task.max_attempts,
        "enqueued_at": task.enqueued_at,
        "started_at": task.started_at,
        "finished_at": task.finished_at,
        "duration": task.duration,
    }


# What `taskflow show` prints of a task beyond its list row, of each attempt and event.
TASK_DETAIL_FIELDS = (
    "priority",
    "key",
    "args",
    "kwargs",
    "result",
    "run_after",
    "worker_id",
    "lease_expires_at",
    "progress",
    "progress_detail",
    "lost_attempts",
    "cancel_requested_at",
    "cancelled_by",
    "cancel_reason",
)
ATTEMPT_FIELDS = (
    "number",
    "outcome",
    "worker_id",
    "started_at",
    "finished_at",
    "duration",
    "error_class",
    "error_message",
    "traceback",
)
EVENT_FIELDS = ("id", "kind", "attempt", "created_at", "data")


def attributes(instance: object, names: Iterable[str]) -> dict[str, Any]:
    """``{name: instance.<name>}`` for each of ``names``, in order."""
    return {name: getattr(instance, name) for name in names}


def task_detail(task: models.Task) -> dict[str, Any]:
    """Everything ``taskflow show`` prints about the task itself."""
    return {**task_summary(task), **attributes(task, TASK_DETAIL_FIELDS)}


def key_values(values: Mapping[str, Any]) -> str:
    """``key: value`` lines, keys aligned; JSON values shown as JSON."""
    width = max((len(key) for key in values), default=0)
    lines = []
    for key, value in values.items():
        text = to_json_line(value) if isinstance(value, dict | list) else cell_text(value)
        lines.append(f"{key.ljust(width)}  {text}")
    return "\n".join(lines)
