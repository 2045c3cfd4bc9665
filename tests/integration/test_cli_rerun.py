"""``manage.py taskflow requeue`` and ``retry``: by id or filter, dry runs, refusals."""

from __future__ import annotations

import getpass

import pytest
from django.core.management import CommandError

from django_taskflow import models
from django_taskflow.models import EventKind
from django_taskflow.testing import run_tasks
from tests import tasks
from tests.taskflow_command import taskflow, taskflow_json

pytestmark = pytest.mark.django_db

UNKNOWN_ID = "0190a0a0-0000-7000-8000-000000000000"
SHELL_USER = f"{getpass.getuser()} (manage.py taskflow)"


def failed_task() -> str:
    result = tasks.fail_always.enqueue("boom")
    run_tasks()
    return result.id


# -- retry ----------------------------------------------------------------------------


def test_retry_by_id_queues_a_failed_task_with_one_more_attempt_recording_the_shell_user() -> None:
    task_id = failed_task()
    assert taskflow("retry", task_id) == "retried 1 task\n"
    task = models.Task.objects.get(pk=task_id)
    assert (task.status, task.attempts, task.max_attempts) == ("queued", 3, 4)
    assert task.event_set.get(kind=EventKind.RETRIED).data == {"by": SHELL_USER}


def test_retry_by_filter_takes_failed_tasks_unless_told_otherwise() -> None:
    failed = failed_task()
    waiting = tasks.fail_with_backoff.enqueue()
    run_tasks()  # its first attempt fails: queued again, run_after ahead
    assert taskflow_json("retry", "--queue", "default", "--dry-run") == {
        "would_retry": 1,
        "refused": {},
    }
    assert models.Task.objects.get(pk=failed).status == "failed"
    assert taskflow_json("retry", "--queue", "default") == {"retried": 1, "refused": {}}
    assert models.Task.objects.get(pk=failed).status == "queued"
    assert taskflow_json("retry", "--status", "queued", "--name", "fail_with_backoff") == {
        "retried": 1,
        "refused": {},
    }
    assert models.Task.objects.get(pk=waiting.id).max_attempts == 4


def test_retry_leaves_tasks_where_it_makes_no_sense_and_says_why() -> None:
    done = tasks.add.enqueue(1, 2)
    run_tasks()
    ready = tasks.add.enqueue(3, 4)
    text = taskflow("retry", done.id, ready.id, UNKNOWN_ID)
    assert text.splitlines() == [
        "retried 0 tasks",
        "  left 1 task: it is already queued to run now",
        "  left 1 task: it is succeeded: requeue it to run it again",
        "  left 1 task: no such task",
    ]
    assert taskflow_json("retry", done.id, "--dry-run") == {
        "would_retry": 0,
        "refused": {"it is succeeded: requeue it to run it again": 1},
    }
    assert taskflow("retry", done.id, "-v", "0") == ""


# -- requeue --------------------------------------------------------------------------


def test_requeue_by_id_makes_a_new_task_linked_to_the_original() -> None:
    done = tasks.add.enqueue(2, 3)
    run_tasks()
    report = taskflow_json("requeue", done.id)
    [new_id] = report.pop("new_ids")
    assert report == {"requeued": 1, "refused": {}}
    copy = models.Task.objects.get(pk=new_id)
    assert (str(copy.original), copy.status, copy.args) == (done.id, "queued", [2, 3])
    assert copy.event_set.get(kind=EventKind.REQUEUED).data == {"by": SHELL_USER}


def test_requeue_by_filter_takes_finished_tasks_and_dry_run_makes_none() -> None:
    for n in range(2):
        tasks.add.enqueue(n, n)
    failed_task()
    run_tasks()
    tasks.add.enqueue(9, 9)  # queued: not finished, not selected
    assert taskflow_json("requeue", "--name", "tests.tasks.add", "--dry-run") == {
        "would_requeue": 2,
        "refused": {},
    }
    assert models.Task.objects.count() == 4
    assert taskflow("requeue", "--name", "tests.tasks.add") == "requeued 2 tasks\n"
    assert models.Task.objects.filter(original__isnull=False).count() == 2
    assert taskflow_json("requeue", "--status", "failed")["requeued"] == 1


def test_requeue_leaves_a_queued_task_and_says_why() -> None:
    ready = tasks.add.enqueue(1, 1)
    assert taskflow("requeue", ready.id).splitlines() == [
        "requeued 0 tasks",
        "  left 1 task: it is still queued or running: nothing to requeue",
    ]
    assert models.Task.objects.count() == 1


# -- bad input ------------------------------------------------------------------------


@pytest.mark.parametrize("subcommand", ["requeue", "retry", "cancel"])
@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "Give task ids, or at least one of --name, --queue, --tag, --status"),
        ([UNKNOWN_ID, "--queue", "default"], "not both"),
        (["42"], "argument ID: '42' is not a task id"),
        (["--status", "done"], "unknown status 'done'"),
        (["--name", "no_such_task"], "No task defined in this code base is named 'no_such_task'"),
        (["--queue", "x", "--backend", "nope"], "--backend 'nope' is not in TASKS"),
        (["--queue", "x", "--dry"], "unrecognized arguments: --dry"),
    ],
)
def test_actions_refuse_bad_input_saying_what_is_wrong(
    subcommand: str, args: list[str], message: str
) -> None:
    tasks.add.enqueue(1, 1)
    with pytest.raises(CommandError, match=message):
        taskflow(subcommand, *args)
    assert models.Task.objects.get().status == "queued"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["retry", "--status", "succeeded"], "succeeded tasks are not retried: retry takes failed"),
        (["retry", "--status", "running"], "running tasks are not retried"),
        (["requeue", "--status", "queued,running"], "queued, running tasks are not requeued"),
    ],
)
def test_a_status_the_action_cannot_take_is_refused_with_the_reason(
    args: list[str], message: str
) -> None:
    with pytest.raises(CommandError, match=message):
        taskflow(*args)
