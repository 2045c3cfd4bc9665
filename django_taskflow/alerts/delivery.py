"""Send the notices of one evaluation: the ``alert_changed`` signal, email, webhooks.

Called by the evaluating worker's supervisor after the incident rows are
committed. It never raises: a channel that fails is logged at ERROR (a
person must look) and the others still go. Each webhook is one JSON POST
with ``NOTIFY["WEBHOOK_TIMEOUT"]`` (5 s by default); a webhook that timed
out or failed is not tried again in the same round, so an unreachable
endpoint costs one timeout per evaluation, not one per incident. Email
goes through Django's mail (``mail_admins`` or ``send_mail``): give the
mailer a timeout so that a dead SMTP server cannot hold the sender.

Why not a background thread: the supervisor forks its slot processes, and
forking a process that runs a second thread can deadlock the child
(``worker/scheduler_duty.py``). The supervisor runs no task itself; while
it sends, the slots go on running tasks and renewing their leases. But it
also writes the worker's heartbeat row, so the worker's duty gives a round
a ``budget`` of one heartbeat interval: a hanging endpoint can never make
the worker look gone.
"""

from __future__ import annotations

import json
import logging
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence

from django.conf import settings as django_settings
from django.core import mail

from django_taskflow import signals
from django_taskflow.alerts import incidents
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


def deliver(
    notices: Sequence[Notice],
    channels: Channels,
    *,
    budget: float | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> None:
    """Send each notice through the signal and every configured channel; never raises.

    ``budget``: seconds the whole round may spend on email and webhooks
    (the signal is always sent). Each post's timeout is cut to what is
    left; notices left when it ran out are logged at ERROR, not sent.
    """
    deadline = None if budget is None else clock() + budget
    dead_webhooks: set[str] = set()
    for notice in notices:
        payload = notice.as_json()
        signals.send_now(
            signals.alert_changed,
            None,
            {"incident": notice.incident, "resolved": notice.resolved, "payload": payload},
        )
        if not (channels.email_admins or channels.email_to or channels.webhooks):
            continue
        if deadline is not None and clock() >= deadline:
            logger.error(
                "alert %s was not emailed or posted: this round's %.0f s for sending ran out",
                notice.incident,
                budget,
                extra={"action": "alert_not_sent", "rule": notice.incident.rule},
            )
            continue
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
            timeout = channels.webhook_timeout
            if deadline is not None:
                timeout = min(timeout, deadline - clock())
            if url in dead_webhooks or timeout <= 0:
                why = "it failed earlier in this round" if url in dead_webhooks else "no time left"
                logger.error(
                    "alert %s not posted to %s: %s",
                    notice.incident,
                    url,
                    why,
                    extra={"action": "alert_webhook_skipped", "rule": notice.incident.rule},
                )
                continue
            try:
                post_json(url, payload, timeout)
            except (OSError, ValueError) as exc:
                dead_webhooks.add(url)
                logger.error(
                    "could not post alert %s to %s: %s",
                    notice.incident,
                    url,
                    exc,
                    extra={"action": "alert_webhook_failed", "rule": notice.incident.rule},
                )


def evaluate_and_send(backend: str = "default", *, take_turn: bool = True) -> list[Notice] | None:
    """Evaluate ``backend``'s alert rules and send what opened or resolved, as a worker does.

    For a cron job outside the workers: the only evaluator that can see
    that no worker at all is alive (``no_worker`` without ``QUEUE``). It
    shares the workers' turn unless ``take_turn`` is False. Returns the
    notices sent, or None when another evaluator has the turn. Raises
    ``InvalidQuery`` for a backend that is not django_taskflow's.
    """
    from django.tasks import task_backends

    from django_taskflow.queries import database_for

    database_for(backend)  # a django_taskflow backend, or InvalidQuery
    options = task_backends[backend].config  # type: ignore[attr-defined]
    notices = incidents.evaluate(options, backend, holder="evaluate_and_send", take_turn=take_turn)
    if notices and options.alerts is not None:
        deliver(notices, options.alerts.channels)
    return notices
