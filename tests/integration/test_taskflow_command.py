"""``manage.py taskflow``: its subcommands and their errors."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from django_taskflow import models, schedules
from tests import tasks

pytestmark = pytest.mark.django_db


@pytest.fixture
def declared() -> Iterator[None]:
    saved = dict(schedules._declared)
    schedules._declared.clear()
    schedules.declare(schedules.build_declaration(tasks.noop, name="n", every=timedelta(hours=1)))
    yield
    schedules._declared.clear()
    schedules._declared.update(saved)


def test_sync_schedules_writes_the_codes_schedules_and_says_what_it_did(declared: None) -> None:
    out = StringIO()
    call_command("taskflow", "sync-schedules", stdout=out)
    assert "created: n" in out.getvalue()
    assert "schedules: 1 created, 0 updated, 0 disabled, 0 unchanged" in out.getvalue()
    assert models.Schedule.objects.get().source == "code"
    out = StringIO()
    call_command("taskflow", "sync-schedules", stdout=out)
    assert "0 created, 0 updated, 0 disabled, 1 unchanged" in out.getvalue()


def test_sync_schedules_reports_a_name_taken_by_an_admin_schedule(declared: None) -> None:
    models.Schedule.objects.create(
        name="n", task_path="tests.tasks.noop", cron="0 0 * * *", timezone="UTC"
    )
    err = StringIO()
    call_command("taskflow", "sync-schedules", stdout=StringIO(), stderr=err)
    assert "not synced: n" in err.getvalue()


def test_an_unknown_backend_is_a_command_error() -> None:
    with pytest.raises(CommandError, match="--backend 'nope' is not in TASKS"):
        call_command("taskflow", "sync-schedules", "--backend", "nope")


def test_a_subcommand_is_required() -> None:
    with pytest.raises(CommandError, match="subcommand"):
        call_command("taskflow")
