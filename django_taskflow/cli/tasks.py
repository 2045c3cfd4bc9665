"""``taskflow list`` and ``taskflow show``: reading tasks, their attempts and events."""

from __future__ import annotations

from typing import Any

from django.core.management.base import CommandError

from django_taskflow import queries
from django_taskflow.cli import output
from django_taskflow.cli.backend import backend_options
from django_taskflow.cli.output import Printer

LIST_COLUMNS: output.Columns = {
    "id": lambda row: row["id"],
    "status": lambda row: row["status"],
    "name": lambda row: row["name"],
    "queue": lambda row: row["queue"],
    "attempts": lambda row: f"{row['attempts']}/{row['max_attempts']}",
    "enqueued": lambda row: row["enqueued_at"],
    "started": lambda row: row["started_at"],
    "finished": lambda row: row["finished_at"],
}

ATTEMPT_COLUMNS: output.Columns = {
    "number": lambda a: a["number"],
    "outcome": lambda a: a["outcome"],
    "worker": lambda a: a["worker_id"],
    "started": lambda a: a["started_at"],
    "finished": lambda a: a["finished_at"],
    "error": lambda a: f"{a['error_class']}: {a['error_message']}" if a["error_class"] else "",
}

EVENT_COLUMNS: output.Columns = {
    "id": lambda e: e["id"],
    "kind": lambda e: e["kind"],
    "attempt": lambda e: e["attempt"],
    "at": lambda e: e["created_at"],
    "data": lambda e: output.to_json_line(e["data"]),
}


def list_tasks(out: Printer, *, backend: str, limit: int, **options: Any) -> None:
    """The tasks matching every filter given, newest first; large JSON columns unread."""
    backend_options(backend)
    tasks = queries.find_tasks(
        options["name"],
        status=options["status"],
        queue=options["queue"],
        tag=options["tag"],
        since=options["since"],
        until=options["until"],
        backend=backend,
    ).only(*output.LIST_FIELDS)[:limit]
    out.rows([output.task_summary(task) for task in tasks], LIST_COLUMNS, empty="no tasks match")


def show(out: Printer, *, backend: str, task_id: Any, **options: Any) -> None:
    """One task, its attempts (tracebacks with ``-v 2``) and its events."""
    from django_taskflow import models

    database = backend_options(backend).database
    task = models.Task.objects.using(database).filter(backend=backend, pk=task_id).first()
    if task is None:
        raise CommandError(f"No task with id {task_id} in backend {backend!r}.")
    attempts = [
        output.attributes(a, output.ATTEMPT_FIELDS) for a in task.attempt_set.using(database)
    ]
    event_rows = list(task.event_set.using(database))
    events = [output.attributes(e, output.EVENT_FIELDS) for e in event_rows]
    detail = output.task_detail(task)
    if task.encoding is not None:
        _shown_as_stored(task, detail, attempts, events, event_rows)
    if out.as_json:
        out.write(output.to_json({"task": detail, "attempts": attempts, "events": events}))
        return
    out.write(output.key_values(detail))
    out.write(f"\nattempts ({len(attempts)})")
    if attempts:
        out.write(output.table_of(attempts, ATTEMPT_COLUMNS))
    if out.verbosity >= 2:
        for attempt in attempts:
            if attempt["traceback"]:
                out.write(f"\ntraceback of attempt {attempt['number']}:\n{attempt['traceback']}")
    out.write(f"\nevents ({len(events)})")
    if events:
        out.write(output.table_of(events, EVENT_COLUMNS))


def _shown_as_stored(
    task: Any,
    detail: dict[str, Any],
    attempts: list[dict[str, Any]],
    events: list[dict[str, Any]],
    event_rows: list[Any],
) -> None:
    """An encoded task's payloads decoded, and an encrypted one's redacted, as in the admin.

    The shell is trusted as the operator is, but it holds no permission to
    see encrypted payloads: they show as ``[encrypted]``.
    """
    from django_taskflow import payload_display

    shown = payload_display.task_payload(task, reveal=False)
    detail.update({name: value for name, value in shown.items() if name in detail})
    texts = (
        ("error_message", payload_display.ERROR_MESSAGE),
        ("traceback", payload_display.TRACEBACK),
        ("error_value", payload_display.ERROR_VALUE),
    )
    for attempt in attempts:
        for name, field in texts:
            if isinstance(attempt.get(name), str):
                attempt[name] = payload_display.attempt_text(
                    task, attempt["number"], field, attempt[name], reveal=False
                )
    for event, row in zip(events, event_rows, strict=True):
        event["data"] = payload_display.event_data(row, task, reveal=False)
