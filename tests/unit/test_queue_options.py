"""QUEUE_WEIGHTS and QUEUE_LIMITS: defaults, validation, the check taskflow.W003."""

from __future__ import annotations

from typing import Any

import pytest
from django.core import checks

from django_taskflow import Queue, conf
from django_taskflow.backend import TaskflowBackend
from django_taskflow.queues import DEFAULT_QUEUE_WEIGHTS


def make_backend(options: dict[str, Any], queues: list[str]) -> TaskflowBackend:
    return TaskflowBackend(
        "default",
        {
            "BACKEND": "django_taskflow.backend.TaskflowBackend",
            "QUEUES": queues,
            "OPTIONS": options,
        },
    )


def test_the_four_queue_classes_and_their_default_weights() -> None:
    assert [str(queue) for queue in Queue] == ["critical", "high", "default", "low"]
    options = conf.parse_options("default", {})
    assert options.queue_weights == {"critical": 100, "high": 10, "default": 1, "low": 0.1}
    assert options.queue_limits == {}


def test_given_weights_are_added_to_the_defaults() -> None:
    options = conf.parse_options("default", {"QUEUE_WEIGHTS": {"emails": 5, "low": 0.5}})
    assert options.queue_weights == {**DEFAULT_QUEUE_WEIGHTS, "emails": 5, "low": 0.5}


def test_given_limits_are_kept() -> None:
    assert conf.parse_options("default", {"QUEUE_LIMITS": {"emails": 5}}).queue_limits == {
        "emails": 5
    }


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("QUEUE_WEIGHTS", {"low": 0}, "a dict of queue names to a finite number greater than 0"),
        ("QUEUE_WEIGHTS", {"low": float("inf")}, "a dict of queue names to a finite number"),
        ("QUEUE_WEIGHTS", {"low": True}, "a dict of queue names to a finite number"),
        ("QUEUE_WEIGHTS", ["low"], "a dict of queue names to a finite number"),
        ("QUEUE_WEIGHTS", {"": 1}, "a dict of queue names to a finite number"),
        ("QUEUE_LIMITS", {"emails": 0}, "a dict of queue names to a whole number of at least 1"),
        ("QUEUE_LIMITS", {"emails": 2.5}, "a dict of queue names to a whole number of at least 1"),
        ("QUEUE_LIMITS", 5, "a dict of queue names to a whole number of at least 1"),
    ],
)
def test_bad_queue_options_are_refused_naming_the_setting(
    key: str, value: Any, expected: str
) -> None:
    [problem] = conf.find_problems("default", {key: value})
    assert problem.message.startswith(f"TASKS['default']['OPTIONS'][{key!r}] must be {expected}")
    [message] = make_backend({key: value}, ["default"]).check()
    assert message.id == "taskflow.E002"


@pytest.mark.parametrize("key", ["QUEUE_WEIGHTS", "QUEUE_LIMITS"])
def test_a_queue_the_backend_lacks_is_warning_w003(key: str) -> None:
    [message] = make_backend({key: {"emails": 2, "default": 1}}, ["default"]).check()
    assert message.id == "taskflow.W003"
    assert message.level == checks.WARNING
    assert message.obj == f"TASKS['default']['OPTIONS'][{key!r}]"
    assert message.msg == (
        f"TASKS['default']['OPTIONS'][{key!r}] names queues that "
        "TASKS['default']['QUEUES'] lacks: emails. No task can use them, so the entries do nothing."
    )


def test_default_weights_and_queues_that_allow_any_name_need_no_warning() -> None:
    # The defaults name critical, high and low, which QUEUES need not list.
    assert make_backend({}, ["default"]).check() == []
    assert make_backend({"QUEUE_WEIGHTS": {"anything": 3}}, []).check() == []


def test_an_alert_rule_watching_a_queue_the_backend_lacks_is_warning_w003() -> None:
    alerts = {
        "RULES": [
            {"NAME": "backlog", "WHEN": "queue_depth", "QUEUE": "default", "ABOVE": 10},
            {"NAME": "mail", "WHEN": "oldest_ready", "QUEUE": "emials", "OLDER_THAN": "5m"},
        ]
    }
    [message] = make_backend({"ALERTS": alerts}, ["default", "emails"]).check()
    assert message.id == "taskflow.W003"
    assert message.level == checks.WARNING
    assert message.obj == "TASKS['default']['OPTIONS']['ALERTS']['RULES'][1]"
    assert message.msg == (
        "TASKS['default']['OPTIONS']['ALERTS']['RULES'][1] (rule 'mail') watches queue 'emials', "
        "which TASKS['default']['QUEUES'] lacks. No task can be in it, so the rule never fires."
    )
    # QUEUES empty allows any queue name.
    assert make_backend({"ALERTS": alerts}, []).check() == []
