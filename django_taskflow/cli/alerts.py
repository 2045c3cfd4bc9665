"""``taskflow alerts``: evaluate the alert rules once, as a worker does, and list open incidents.

For a cron job beside (or instead of) the workers: it takes the same turn
(``alerts.delivery.evaluate_and_send``), so it never evaluates in the
same ``EVERY`` as a worker, and it is the one evaluator that still runs
when no worker is alive. Each incident is announced once, by whichever
evaluator's write opened or resolved it.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import CommandError

from django_taskflow.alerts import delivery, incidents
from django_taskflow.cli import output
from django_taskflow.cli.backend import backend_options
from django_taskflow.cli.output import Printer

NOT_YOUR_TURN = "not evaluated: a worker or an earlier run evaluated the rules less than EVERY ago"

INCIDENT_COLUMNS: output.Columns = {
    "rule": lambda i: i["rule"],
    "when": lambda i: i["when"],
    "subject": lambda i: i["subject"],
    "opened": lambda i: i["opened_at"],
    "detail": lambda i: i["detail"],
}


def alerts(out: Printer, *, backend: str, evaluate: bool, **options: Any) -> None:
    """Evaluate the rules (unless ``--no-evaluate``), send what changed, list open incidents."""
    config = backend_options(backend)
    if config.alerts is None:
        raise CommandError(
            f"TASKS[{backend!r}]['OPTIONS'] has no ALERTS: there are no rules to evaluate. "
            "See the alerts how-to for an example."
        )
    sent = delivery.evaluate_and_send(backend) if evaluate else None
    rows = incidents.open_incidents(config.database, backend)
    # The fields the webhooks and the signal carry, for an incident still firing.
    found = [incidents.Notice(incident=row, resolved=False).as_json() for row in rows]
    if out.as_json:
        out.write(
            output.to_json(
                {
                    "evaluated": sent is not None,
                    "sent": [notice.as_json() for notice in sent or ()],
                    "open": found,
                }
            )
        )
        return
    if not evaluate:
        summary = "not evaluated (--no-evaluate)"
    elif sent is None:
        summary = NOT_YOUR_TURN
    else:
        opened = sum(not notice.resolved for notice in sent)
        summary = (
            f"evaluated {output.plural(len(config.alerts.rules), 'rule')}: "
            f"{opened} opened, {len(sent) - opened} resolved"
        )
    out.say(summary)
    if rows:
        out.write(
            output.table_of(
                [
                    {**item, "opened_at": row.opened_at}
                    for item, row in zip(found, rows, strict=True)
                ],
                INCIDENT_COLUMNS,
            )
        )
    else:
        out.say("no open incident")
