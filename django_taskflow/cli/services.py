"""``taskflow services list|show|stop|restart``: long-running services from a shell.

Services live in the database of the ``default`` task backend, whatever
``--backend`` says elsewhere. Stop and restart go through ``operations``,
as the admin's actions do; the shell is trusted as the operator is.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from django_taskflow import operations
from django_taskflow.cli import output
from django_taskflow.cli.actions import shell_user
from django_taskflow.cli.output import Printer
from django_taskflow.services import api
from django_taskflow.services.log import ServiceEventRecord

LIST_COLUMNS: output.Columns = {
    "name": lambda s: s["name"],
    "state": lambda s: s["state"],
    "owner": lambda s: s["owner"] or None,
    "backlog": lambda s: s["backlog"],
    "dead": lambda s: s["dead_messages"],
    "restarts": lambda s: s["restarts"],
    "last tick": lambda s: s["last_tick_at"],
    "class": lambda s: s["service_path"],
}

EVENT_COLUMNS: output.Columns = {
    "id": lambda e: e["id"],
    "kind": lambda e: e["kind"],
    "owner": lambda e: e["owner"],
    "at": lambda e: e["created_at"],
    "data": lambda e: output.to_json_line(e["data"]),
}


def _as_dict(status: api.ServiceStatus) -> dict[str, Any]:
    return dataclasses.asdict(status)


def _event(event: ServiceEventRecord) -> dict[str, Any]:
    return dataclasses.asdict(event)


def list_services(out: Printer, *, state: str | None, limit: int, **options: Any) -> None:
    """Services by name, with their state, owner, backlog, dead messages and restarts."""
    found = [_as_dict(api.status_of(row)) for row in api.find(state)[:limit]]
    out.rows(found, LIST_COLUMNS, empty="no services" if state is None else f"no {state} services")


def show(out: Printer, *, name: str, events: int, **options: Any) -> None:
    """One service: its status, its latest errors (tracebacks with ``-v 2``) and events."""
    status = _as_dict(api.status(name))
    recent = [_event(event) for event in api.recent_events(name, events)]
    if out.as_json:
        out.write(output.to_json({**status, "events": recent}))
        return
    fields = [key for key in status if key not in ("errors", "config")]
    width = max(len(key) for key in fields)
    lines = [f"{key.ljust(width)}  {output.cell_text(status[key])}" for key in fields]
    lines.append(f"{'config'.ljust(width)}  {output.to_json_line(status['config'])}")
    out.write("\n".join(lines))
    if status["errors"]:
        out.write("errors (newest last):")
        for error in status["errors"]:
            out.write(
                f"  {error.get('at')} {error.get('error_class')} in {error.get('handler')}: "
                f"{error.get('message')}"
            )
            if out.verbosity >= 2 and error.get("traceback"):
                out.write(error["traceback"].rstrip())
    if recent:
        out.write(output.table_of(recent, EVENT_COLUMNS))
    else:
        out.say("no events")


def stop(out: Printer, *, name: str, **options: Any) -> None:
    """Ask a running service to stop: its owner calls ``on_stop`` once."""
    status = operations.stop_service(name, by=shell_user())
    if status.state == "stopping":
        text = f"service {name!r}: stopping (its owner calls on_stop, then it is stopped)"
    else:
        text = f"service {name!r} is {status.state}: left as it was"
    _report(out, status, text)


def restart(out: Printer, *, name: str, **options: Any) -> None:
    """Start a stopped or failed service again with its stored class and config."""
    status = operations.restart_service(name, by=shell_user())
    _report(out, status, f"service {name!r} restarted: a worker takes it within seconds")


def _report(out: Printer, status: api.ServiceStatus, text: str) -> None:
    if out.as_json:
        out.write(output.to_json(_as_dict(status)))
    else:
        out.say(text)
