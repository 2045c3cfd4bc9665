"""Alert delivery: email, webhooks (against a local server) and the ``alert_changed`` signal."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from django.test import override_settings

from django_taskflow import conf, signals
from django_taskflow.alerts import delivery, incidents
from django_taskflow.conf import Options
from tests.conftest import heartbeat_worker
from tests.webhook_server import webhook_server

pytestmark = pytest.mark.django_db

DOWN = {"NAME": "down", "WHEN": "no_worker"}
EMAILS = {"NAME": "emails unserved", "WHEN": "no_worker", "QUEUE": "emails"}


def alert_options(notify: dict[str, Any], *rules: dict[str, Any]) -> Options:
    raw = {"RULES": list(rules or [DOWN]), "NOTIFY": notify}
    return conf.parse_options("default", {"ALERTS": raw})


def evaluate_and_deliver(options: Options) -> list[incidents.Notice]:
    """What the worker's duty does once it has the turn."""
    notices = incidents.evaluate(options, take_turn=False)
    assert notices is not None
    assert options.alerts is not None
    delivery.deliver(notices, options.alerts.channels)
    return notices


@override_settings(ADMINS=["ops@example.com"], SERVER_EMAIL="taskflow@example.com")
def test_mail_admins_gets_one_alert_and_later_one_resolved(mailoutbox: list[Any]) -> None:
    options = alert_options({"EMAIL": "admins"})
    evaluate_and_deliver(options)
    evaluate_and_deliver(options)  # still open: no second email
    assert [m.subject for m in mailoutbox] == ["[Django] [taskflow] FIRING: down"]
    assert mailoutbox[0].to == ["ops@example.com"]
    assert "no worker is alive" in mailoutbox[0].body
    heartbeat_worker()
    evaluate_and_deliver(options)
    assert mailoutbox[-1].subject == "[Django] [taskflow] RESOLVED: down"
    assert len(mailoutbox) == 2


@override_settings(SERVER_EMAIL="taskflow@example.com")
def test_email_to_a_list_of_addresses(mailoutbox: list[Any]) -> None:
    options = alert_options({"EMAIL": ["a@example.com", "b@example.com"]}, EMAILS)
    evaluate_and_deliver(options)
    [message] = mailoutbox
    assert message.subject == "[taskflow] FIRING: emails unserved (emails)"
    assert message.to == ["a@example.com", "b@example.com"]
    assert message.from_email == "taskflow@example.com"


def test_a_webhook_gets_one_json_post_per_incident_and_one_resolved() -> None:
    with webhook_server() as server:
        options = alert_options({"WEBHOOK": server.url})
        evaluate_and_deliver(options)
        evaluate_and_deliver(options)
        heartbeat_worker()
        evaluate_and_deliver(options)
        evaluate_and_deliver(options)
    assert server.states() == [("firing", "down"), ("resolved", "down")]
    firing = server.received[0]
    assert firing["detail"] == "no worker is alive"
    assert firing["when"] == "no_worker"
    assert firing["backend"] == "default"
    assert firing["opened_at"] is not None
    assert firing["resolved_at"] is None
    assert server.received[1]["resolved_at"] is not None


def test_a_slow_webhook_costs_one_timeout_per_round_and_the_alert_is_still_recorded(
    caplog: pytest.LogCaptureFixture, mailoutbox: list[Any]
) -> None:
    with (
        override_settings(ADMINS=["ops@example.com"]),
        webhook_server(delay=5) as server,
    ):
        options = alert_options(
            {"WEBHOOK": server.url, "WEBHOOK_TIMEOUT": 0.5, "EMAIL": "admins"}, DOWN, EMAILS
        )
        started = time.monotonic()
        notices = evaluate_and_deliver(options)
        took = time.monotonic() - started
    assert len(notices) == 2
    assert took < 4  # one 0.5 s timeout, not one per incident, and never the server's 5 s
    assert len(server.received) == 1  # the second incident skipped the endpoint that hung
    assert "could not post alert" in caplog.text
    assert "it failed earlier in this round" in caplog.text
    assert len(mailoutbox) == 2  # the other channel still carried both
    assert {n.incident.rule for n in notices} == {"down", "emails unserved"}


def test_a_round_spends_no_more_than_its_budget_on_hanging_webhooks(
    caplog: pytest.LogCaptureFixture,
) -> None:
    heard: list[bool] = []

    def receiver(sender: Any, resolved: bool, **kwargs: Any) -> None:
        heard.append(resolved)

    signals.alert_changed.connect(receiver)
    try:
        with webhook_server(delay=10) as first, webhook_server(delay=10) as second:
            options = alert_options(
                {"WEBHOOK": [first.url, second.url], "WEBHOOK_TIMEOUT": 5}, DOWN, EMAILS
            )
            notices = incidents.evaluate(options, take_turn=False)
            assert notices is not None
            assert options.alerts is not None
            started = time.monotonic()
            delivery.deliver(notices, options.alerts.channels, budget=1.0)
            took = time.monotonic() - started
    finally:
        signals.alert_changed.disconnect(receiver)
    assert took < 4  # the 1 s budget (and a margin), not 2 x 2 timeouts of 5 s
    assert (len(first.received), len(second.received)) == (1, 0)
    assert "no time left" in caplog.text
    assert "this round's 1 s for sending ran out" in caplog.text
    assert heard == [False, False]  # the signal goes out for every notice regardless


def test_a_failing_webhook_is_logged_and_does_not_raise(caplog: pytest.LogCaptureFixture) -> None:
    with webhook_server(status=500) as server:
        evaluate_and_deliver(alert_options({"WEBHOOK": server.url}))
    assert server.states() == [("firing", "down")]
    assert "HTTP Error 500" in caplog.text


def test_an_unreachable_webhook_is_logged_and_does_not_raise(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with webhook_server() as server:
        url = server.url
    evaluate_and_deliver(alert_options({"WEBHOOK": url}))  # the server is gone
    assert f"could not post alert down to {url}" in caplog.text


def test_the_signal_carries_the_incident_for_custom_channels() -> None:
    heard: list[dict[str, Any]] = []

    def receiver(sender: Any, **kwargs: Any) -> None:
        heard.append(kwargs)

    signals.alert_changed.connect(receiver)
    try:
        options = alert_options({})
        evaluate_and_deliver(options)
        heartbeat_worker()
        evaluate_and_deliver(options)
    finally:
        signals.alert_changed.disconnect(receiver)
    assert [(h["incident"].rule, h["resolved"]) for h in heard] == [("down", False), ("down", True)]
    assert heard[0]["payload"]["state"] == "firing"
    json.dumps(heard[1]["payload"])  # the same JSON the webhook gets


def test_a_receiver_that_raises_does_not_stop_the_other_channels(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def broken(sender: Any, **kwargs: Any) -> None:
        raise RuntimeError("pager down")

    signals.alert_changed.connect(broken)
    try:
        with webhook_server() as server:
            evaluate_and_deliver(alert_options({"WEBHOOK": server.url}))
    finally:
        signals.alert_changed.disconnect(broken)
    assert server.states() == [("firing", "down")]
    assert "signal receiver" in caplog.text
