"""Send the notices of one evaluation: the ``alert_changed`` signal, email, webhooks.

Called by the evaluating worker's supervisor after the incident rows are
committed. It never raises: a channel that fails is logged at ERROR (a
person must look) and the others still go. Each webhook is one JSON POST
with ``NOTIFY["WEBHOOK_TIMEOUT"]`` (5 s by default); a webhook that timed
out or failed is not tried again in the same round, so an unreachable
endpoint costs one timeout per evaluation, not one per incident. Email
goes through Django's mail (``mail_admins`` or ``send_mail``): set
``EMAIL_TIMEOUT`` so that a dead SMTP server cannot hold the sender.

Why not a background thread: the supervisor forks its slot processes, and
forking a process that runs a second thread can deadlock the child
(``worker/scheduler_duty.py``). The supervisor runs no task itself; while
it sends, the slots go on running tasks and renewing their leases.
"""

from __future__ import annotations

import json
import logging
import urllib.error
import urllib.request
from collections.abc import Sequence

from django.conf import settings as django_settings
from django.core import mail

from django_taskflow import signals
from django_taskflow.alerts.incidents import Notice
from django_taskflow.alerts.rules import Channels

logger = logging.getLogger(__name__)


def subject_line(notice: Notice) -> str:
    """The email subject: state, rule, and what it is about."""
    state = "RESOLVED" if notice.resolved else "FIRING"
    about = f" ({notice.incident.subject})" if notice.incident.subject else ""
    return f"[taskflow] {state}: {notice.incident.rule}{about}"


def _email(notice: Notice, channels: Channels) -> None:
    body = json.dumps(notice.as_json(), indent=2)
    message = f"{notice.incident.detail}\n\n{body}\n"
    if channels.email_admins:
        mail.mail_admins(subject_line(notice), message)
    if channels.email_to:
        mail.send_mail(
            subject_line(notice),
            message,
            django_settings.SERVER_EMAIL,
            list(channels.email_to),
        )


def post_json(url: str, payload: dict[str, object], timeout: float) -> None:
    """POST ``payload`` as JSON to ``url``; raise OSError (URLError, timeout) on failure."""
    request = urllib.request.Request(  # noqa: S310 - http(s) only, checked by rules.py
        url,
        data=json.dumps(payload).encode(),
        headers={"Content-Type": "application/json", "User-Agent": "django-taskflow-alerts"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
        response.read(1024)


def deliver(notices: Sequence[Notice], channels: Channels) -> None:
    """Send each notice through the signal and every configured channel; never raises."""
    dead_webhooks: set[str] = set()
    for notice in notices:
        payload = notice.as_json()
        signals.send_now(
            signals.alert_changed,
            None,
            {"incident": notice.incident, "resolved": notice.resolved, "payload": payload},
        )
        if channels.email_admins or channels.email_to:
            try:
                _email(notice, channels)
            except (OSError, ValueError):  # SMTP and socket errors, a bad header
                logger.exception(
                    "could not email alert %s",
                    notice.incident,
                    extra={"action": "alert_email_failed", "rule": notice.incident.rule},
                )
        for url in channels.webhooks:
            if url in dead_webhooks:
                logger.error(
                    "alert %s not posted to %s: it failed earlier in this round",
                    notice.incident,
                    url,
                    extra={"action": "alert_webhook_skipped", "rule": notice.incident.rule},
                )
                continue
            try:
                post_json(url, payload, channels.webhook_timeout)
            except (OSError, ValueError) as exc:
                dead_webhooks.add(url)
                logger.error(
                    "could not post alert %s to %s: %s",
                    notice.incident,
                    url,
                    exc,
                    extra={"action": "alert_webhook_failed", "rule": notice.incident.rule},
                )
