"""``OPTIONS["ALERTS"]``: parsed into rules, and refused with a message naming the rule and field."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from django_taskflow import conf
from django_taskflow.alerts.rules import When, parse_alerts
from django_taskflow.exceptions import ConfigurationError

BACKLOG = {"NAME": "backlog", "WHEN": "queue_depth", "QUEUE": "default", "ABOVE": 100, "FOR": "10m"}


def test_a_full_example_parses_into_rules_and_channels() -> None:
    settings = parse_alerts(
        {
            "EVERY": "30s",
            "NOTIFY": {
                "EMAIL": ["ops@example.com"],
                "WEBHOOK": "https://hooks.example.com/taskflow",
                "WEBHOOK_TIMEOUT": 2,
            },
            "RULES": [
                BACKLOG,
                {"NAME": "stale", "WHEN": "oldest_ready", "OLDER_THAN": "15m"},
                {
                    "NAME": "emails failing",
                    "WHEN": "failure_rate",
                    "TASK": "myapp.tasks.send_email",
                    "ABOVE": 20,
                    "WINDOW": "1h",
                    "MIN_TASKS": 50,
                },
                {"NAME": "nobody on emails", "WHEN": "no_worker", "QUEUE": "emails"},
                {"NAME": "nightly", "WHEN": "schedule_missed", "SCHEDULE": "nightly-report"},
            ],
        }
    )
    assert settings.every == timedelta(seconds=30)
    assert [rule.when for rule in settings.rules] == list(When)
    backlog = settings.rule("backlog")
    assert backlog is not None
    assert (backlog.queue, backlog.above, backlog.hold_for) == (
        "default",
        100,
        timedelta(minutes=10),
    )
    failing = settings.rule("emails failing")
    assert failing is not None
    assert (failing.above, failing.window, failing.min_tasks) == (20.0, timedelta(hours=1), 50)
    assert settings.channels.email_to == ("ops@example.com",)
    assert not settings.channels.email_admins
    assert settings.channels.webhooks == ("https://hooks.example.com/taskflow",)
    assert settings.channels.webhook_timeout == 2.0


def test_defaults_evaluate_every_minute_and_notify_only_the_signal() -> None:
    settings = parse_alerts({"RULES": [{"NAME": "down", "WHEN": "no_worker"}]})
    assert settings.every == timedelta(minutes=1)
    assert settings.channels.webhooks == ()
    assert not settings.channels.email_admins
    assert settings.rules[0].hold_for == timedelta(0)


@pytest.mark.parametrize(
    ("alerts", "message"),
    [
        ([BACKLOG], r"ALERTS must be a dict with RULES"),
        ({"RULES": []}, r"RULES must be a non-empty list"),
        ({"RULES": [BACKLOG], "CHANNELS": {}}, r"CHANNELS is not a key of ALERTS"),
        ({"RULES": [{"WHEN": "no_worker"}]}, r"RULES\[0\]: NAME is missing"),
        (
            {"RULES": [BACKLOG, {"NAME": "x", "WHEN": "queue_size"}]},
            r"RULES\[1\] \('x'\): WHEN must be one of queue_depth, .*got 'queue_size'",
        ),
        (
            {"RULES": [{**BACKLOG, "FOR": "ten minutes"}]},
            r"RULES\[0\] \('backlog'\): FOR must be a duration such as .*got 'ten minutes'",
        ),
        (
            {"RULES": [{**BACKLOG, "ABOVE": -1}]},
            r"\('backlog'\): ABOVE must be a whole number of at least 0, got -1",
        ),
        ({"RULES": [{"NAME": "b", "WHEN": "queue_depth", "ABOVE": 5}]}, r"queue_depth needs QUEUE"),
        (
            {"RULES": [{**BACKLOG, "WINDOW": "5m"}]},
            r"\('backlog'\): WINDOW is not a field of queue_depth rules",
        ),
        (
            {
                "RULES": [
                    {"NAME": "f", "WHEN": "failure_rate", "ABOVE": 100, "WINDOW": "15m"},
                ]
            },
            r"\('f'\): ABOVE must be a percentage from 0 up to \(not including\) 100, got 100",
        ),
        (
            {
                "RULES": [
                    {
                        "NAME": "f",
                        "WHEN": "failure_rate",
                        "ABOVE": 5,
                        "WINDOW": "1h",
                        "MIN_TASKS": 0,
                    }
                ]
            },
            r"\('f'\): MIN_TASKS must be a whole number of at least 1, got 0",
        ),
        ({"RULES": [BACKLOG, BACKLOG]}, r"RULES\[1\] \('backlog'\): NAME must be unique"),
        ({"RULES": [BACKLOG], "EVERY": "0s"}, r"EVERY must be a duration"),
        ({"RULES": [BACKLOG], "NOTIFY": {"EMAIL": "ops@x.org"}}, r'EMAIL must be "admins"'),
        (
            {"RULES": [BACKLOG], "NOTIFY": {"WEBHOOK": "ftp://x"}},
            r"WEBHOOK must be an http:// or https:// URL, got 'ftp://x'",
        ),
        (
            {"RULES": [BACKLOG], "NOTIFY": {"WEBHOOK": "http://x", "WEBHOOK_TIMEOUT": 0}},
            r"WEBHOOK_TIMEOUT must be a number of seconds above 0 and at most 10, got 0",
        ),
        ({"RULES": [BACKLOG], "NOTIFY": {"SLACK": "#ops"}}, r"NOTIFY: SLACK is not a channel"),
    ],
)
def test_a_bad_setting_names_the_rule_and_field(alerts: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_alerts(alerts)


def test_loading_the_backend_options_raises_configuration_error_naming_the_setting() -> None:
    bad = {"RULES": [{**BACKLOG, "FOR": "ten minutes"}]}
    with pytest.raises(ConfigurationError) as raised:
        conf.parse_options("default", {"ALERTS": bad})
    message = str(raised.value)
    assert message.startswith("TASKS['default']['OPTIONS']['ALERTS'] must be alert settings")
    assert "RULES[0] ('backlog'): FOR must be a duration" in message


def test_options_without_alerts_have_none() -> None:
    assert conf.parse_options("default", {}).alerts is None
