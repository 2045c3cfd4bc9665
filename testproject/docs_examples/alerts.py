"""Alerts (docs/howto/alerts.md): rules that page when the queue is in trouble.

``ALERTS`` goes into ``TASKS["default"]["OPTIONS"]["ALERTS"]``;
``page_on_call`` is a custom channel, a receiver of ``alert_changed``.
"""

from __future__ import annotations

from typing import Any

from django.dispatch import receiver

from django_taskflow.signals import alert_changed

ALERTS = {
    "EVERY": "1m",  # one worker evaluates the rules once a minute
    "NOTIFY": {
        "EMAIL": "admins",  # mail_admins(); or a list of addresses
        "WEBHOOK": "https://hooks.example.com/taskflow",
        "WEBHOOK_TIMEOUT": 5,
    },
    "RULES": [
        {"NAME": "backlog", "WHEN": "queue_depth", "QUEUE": "default", "ABOVE": 1000, "FOR": "10m"},
        {"NAME": "stale", "WHEN": "oldest_ready", "OLDER_THAN": "15m"},
        {
            "NAME": "emails failing",
            "WHEN": "failure_rate",
            "TASK": "myapp.tasks.send_email",
            "ABOVE": 20,  # per cent of the tasks that finished in the window
            "WINDOW": "15m",
            "MIN_TASKS": 20,  # fewer finished tasks than this never page
        },
        {"NAME": "nobody on emails", "WHEN": "no_worker", "QUEUE": "emails"},
        {"NAME": "nightly report", "WHEN": "schedule_missed", "SCHEDULE": "nightly-report"},
    ],
}

# A stand-in for a pager service's client.
pages: list[str] = []


@receiver(alert_changed)
def page_on_call(
    sender: Any, incident: Any, resolved: bool, payload: dict[str, Any], **kwargs: Any
) -> None:
    if incident.when == "no_worker":
        pages.append(f"{payload['state']}: {incident.detail}")
