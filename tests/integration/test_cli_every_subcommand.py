"""Every ``taskflow`` subcommand: JSON with ``--json``, and a clear error for a bad ``--backend``.

Each subcommand's own behaviour and bad input are tested beside it
(``test_cli_operate``, ``test_cli_rerun``, ``test_cli_workers``,
``test_cli_alerts``, ``test_health``, ``test_retention``, ``test_schedules``).
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from django.conf import settings
from django.core.management import get_commands, load_command_class
from django.core.management.base import CommandError
from django.test import override_settings

from django_taskflow import models
from django_taskflow.management.commands.taskflow import SUBCOMMANDS
from tests import tasks
from tests.conftest import heartbeat_worker
from tests.taskflow_command import taskflow

pytestmark = pytest.mark.django_db

TASK_ID = "01900000-0000-7000-8000-000000000000"

# One valid call of each subcommand (TASK_ID and the schedule "nightly" are made below).
CALLS = {
    "list": [],
    "show": [TASK_ID],
    "cancel": [TASK_ID],
    "requeue": ["--status", "succeeded"],
    "retry": ["--status", "failed"],
    "stats": [],
    "workers": [],
    "prune": ["--older-than", "30d"],
    "health": [],
    "pause": ["emails"],
    "resume": ["emails"],
    "limit": ["emails", "3"],
    "purge-queue": ["emails"],
    "sync-schedules": [],
    "run-schedule": ["nightly"],
    "alerts": [],
    "rotate-keys": [],
    "services": ["list"],
}
# Services live in the default backend's database: their subcommands take no --backend.
WITH_BACKEND = [subcommand for subcommand in CALLS if subcommand != "services"]


@pytest.fixture
def world() -> Iterator[None]:
    """A task, a schedule, a live worker and one alert rule: every subcommand has work."""
    result = tasks.noop.enqueue()
    models.Task.objects.filter(pk=result.id).update(id=TASK_ID)
    models.Schedule.objects.create(
        name="nightly", task_path="tests.tasks.noop", cron="0 3 * * *", timezone="UTC"
    )
    heartbeat_worker()
    backend = {**settings.TASKS["default"]}
    backend["OPTIONS"] = {
        **backend.get("OPTIONS", {}),
        "ALERTS": {"RULES": [{"NAME": "down", "WHEN": "no_worker"}]},
    }
    with override_settings(TASKS={"default": backend}):
        yield


def test_the_help_names_every_subcommand() -> None:
    command = load_command_class(get_commands()["taskflow"], "taskflow")
    parser = command.create_parser("manage.py", "taskflow")
    [subparsers] = [a for a in parser._actions if a.dest == "subcommand"]
    assert set(subparsers.choices) == set(CALLS)  # type: ignore[arg-type]
    assert set(SUBCOMMANDS.split(", ")) == set(CALLS)


@pytest.mark.parametrize("subcommand", list(CALLS))
def test_every_subcommand_prints_json_for_scripts(subcommand: str, world: None) -> None:
    printed = taskflow(subcommand, *CALLS[subcommand], "--json")
    json.loads(printed)  # one JSON document, nothing else


@pytest.mark.parametrize("subcommand", WITH_BACKEND)
def test_every_subcommand_refuses_a_backend_not_in_tasks(subcommand: str, world: None) -> None:
    with pytest.raises(CommandError, match=r"--backend 'nope' is not in TASKS\. Aliases in TASKS"):
        taskflow(subcommand, *CALLS[subcommand], "--backend", "nope")
