"""``manage.py taskflow``: its subcommands and their errors."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from django_taskflow import models, schedules
from django_taskflow.testing import run_tasks
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


# -- run-schedule ---------------------------------------------------------------------


def make_schedule(name: str, task_path: str = "tests.tasks.noop") -> models.Schedule:
    return models.Schedule.objects.create(
        name=name, task_path=task_path, cron="0 3 * * *", timezone="UTC"
    )


def test_run_schedule_enqueues_one_run_now_and_leaves_the_timing() -> None:
    schedule = make_schedule("nightly")
    out = StringIO()
    call_command("taskflow", "run-schedule", "nightly", stdout=out)
    run = models.ScheduleRun.objects.get()
    assert run.state == "fired"
    assert out.getvalue() == f"nightly: task {run.task_id} enqueued\n"
    assert models.Task.objects.get(pk=run.task_id).status == "queued"
    schedule.refresh_from_db()
    assert schedule.last_run_at is None


def test_run_schedule_json_has_one_object_per_schedule() -> None:
    make_schedule("a")
    make_schedule("b")
    out = StringIO()
    call_command("taskflow", "run-schedule", "a", "b", "--json", stdout=out)
    runs = json.loads(out.getvalue())
    assert [(r["schedule"], r["state"]) for r in runs] == [("a", "fired"), ("b", "fired")]
    assert {r["task_id"] for r in runs} == {
        str(pk) for pk in models.Task.objects.values_list("pk", flat=True)
    }


def test_run_schedule_refuses_unknown_names_before_running_any() -> None:
    make_schedule("a")
    with pytest.raises(CommandError, match="No schedule is named 'nope'"):
        call_command("taskflow", "run-schedule", "a", "nope", stdout=StringIO())
    assert not models.ScheduleRun.objects.exists()
    with pytest.raises(CommandError, match="NAME"):
        call_command("taskflow", "run-schedule")


def test_run_schedule_that_cannot_enqueue_is_a_command_error_with_the_reason() -> None:
    make_schedule("broken", task_path="tests.tasks.gone_away")
    out = StringIO()
    with pytest.raises(CommandError, match="Could not enqueue a run of: broken"):
        call_command("taskflow", "run-schedule", "broken", stdout=out)
    assert out.getvalue().startswith("broken: could not enqueue (")
    assert models.ScheduleRun.objects.get().state == "failed"


# -- the command as a whole -----------------------------------------------------------


def test_help_lists_every_subcommand() -> None:
    from django_taskflow.management.commands.taskflow import SUBCOMMANDS, Command

    help_text = Command().create_parser("manage.py", "taskflow").format_help()
    for name in SUBCOMMANDS.split(", "):
        assert name in help_text


def test_show_with_verbosity_2_prints_each_attempts_traceback() -> None:
    result = tasks.fail_always.enqueue("bad luck")
    run_tasks()
    out = StringIO()
    call_command("taskflow", "show", result.id, "-v", "2", stdout=out)
    assert out.getvalue().count("traceback of attempt") == 3
    assert "RuntimeError: bad luck" in out.getvalue()
    out = StringIO()
    call_command("taskflow", "show", result.id, stdout=out)
    assert "traceback of attempt" not in out.getvalue()
    count, _header, *rows = out.getvalue().split("\nevents (")[1].splitlines()
    assert len(rows) == int(count.rstrip(")"))  # one line per event, its data on it
    assert '{"error_class": "builtins.RuntimeError", "error_message": "bad luck"}' in rows[-1]
