"""``manage.py taskflow`` list, show, cancel, stats, pause/resume/limit, purge-queue."""

from __future__ import annotations

import getpass

import pytest
from django.core.management import CommandError

from django_taskflow import models
from django_taskflow.testing import run_tasks
from tests import tasks
from tests.taskflow_command import taskflow
from tests.taskflow_command import taskflow_json as as_json

pytestmark = pytest.mark.django_db


# -- list ---------------------------------------------------------------------------


def test_list_shows_tasks_newest_first_with_attempts_as_n_of_max() -> None:
    first = tasks.add.enqueue(1, 2)
    second = tasks.fail_always.enqueue()
    text = taskflow("list")
    assert text.index(second.id) < text.index(first.id)
    assert "tests.tasks.fail_always" in text
    assert "0/3" in text  # attempts / max_attempts
    assert text.splitlines()[0].split()[:3] == ["ID", "STATUS", "NAME"]


def test_list_filters_like_the_admin() -> None:
    done = tasks.add.enqueue(1, 1)
    run_tasks()
    waiting = tasks.add.enqueue(2, 2)
    tagged = tasks.tagged_report.enqueue(1)
    assert [row["id"] for row in as_json("list", "--status", "succeeded")] == [done.id]
    assert [
        row["id"] for row in as_json("list", "--status", "queued", "--name", "tests.tasks.add")
    ] == [waiting.id]
    tag = models.Task.objects.get(pk=tagged.id).tags[0]
    assert [row["id"] for row in as_json("list", "--tag", tag)] == [tagged.id]
    assert as_json("list", "--queue", "nowhere") == []
    assert len(as_json("list", "--since", "1h")) == 3
    assert as_json("list", "--until", "1h") == []
    assert len(as_json("list", "--since", "2000-01-01T00:00")) == 3
    assert len(as_json("list", "--limit", "2")) == 2


def test_list_json_has_one_object_per_task() -> None:
    result = tasks.add.enqueue(1, 2)
    [row] = as_json("list")
    assert row["id"] == result.id
    assert row["status"] == "queued"
    assert row["name"] == "tests.tasks.add"
    assert row["attempts"] == 0 and row["max_attempts"] == 1
    assert "args" not in row  # large JSON columns are not read for the list


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--status", "done"], "argument --status: unknown status 'done'"),
        (["--since", "yesterday"], "'yesterday' is neither a duration"),
        (["--limit", "0"], "at least 1"),
        (["--name", "no_such_task"], "No task defined in this code base is named 'no_such_task'"),
        (["--backend", "nope"], "--backend 'nope' is not in TASKS"),
    ],
)
def test_list_refuses_bad_input_saying_what_is_wrong(args: list[str], message: str) -> None:
    with pytest.raises(CommandError, match=message):
        taskflow("list", *args)


def test_verbosity_0_keeps_quiet_about_an_empty_list() -> None:
    assert taskflow("list") == "no tasks match\n"
    assert taskflow("list", "-v", "0") == ""


# -- show ---------------------------------------------------------------------------


def test_show_prints_the_task_its_attempts_and_events() -> None:
    result = tasks.fail_until_attempt.enqueue(succeed_on=2)
    run_tasks()
    text = taskflow("show", result.id)
    assert result.id in text and "succeeded" in text
    assert "attempts (2)" in text
    assert "events (" in text and "retrying" in text


def test_show_json_holds_the_task_attempts_and_events() -> None:
    result = tasks.fail_always.enqueue("bad luck")
    run_tasks()
    shown = as_json("show", result.id)
    assert shown["task"]["status"] == "failed"
    assert shown["task"]["args"] == ["bad luck"]
    assert [a["number"] for a in shown["attempts"]] == [1, 2, 3]
    assert shown["attempts"][0]["error_message"] == "bad luck"
    assert shown["events"][-1]["kind"] == "failed"


def test_show_of_an_unknown_or_malformed_id_is_a_clear_error() -> None:
    with pytest.raises(CommandError, match="No task with id 0190"):
        taskflow("show", "01900000-0000-7000-8000-000000000000")
    with pytest.raises(CommandError, match="'42' is not a task id"):
        taskflow("show", "42")


# -- cancel -------------------------------------------------------------------------


def test_cancel_by_id_cancels_and_says_how_many() -> None:
    result = tasks.add.enqueue(1, 2)
    assert taskflow("cancel", result.id, "--reason", "not needed") == "cancelled 1 task\n"
    task = models.Task.objects.get(pk=result.id)
    assert task.status == "cancelled"
    assert task.cancel_reason == "not needed"
    assert task.cancelled_by == f"{getpass.getuser()} (manage.py taskflow)"
    assert as_json("cancel", result.id) == {"cancelled": 0}  # already cancelled


def test_cancel_by_filter_with_dry_run_changes_nothing() -> None:
    for n in range(3):
        tasks.add.enqueue(n, n)
    tasks.noop.enqueue()
    assert as_json("cancel", "--name", "tests.tasks.add", "--dry-run") == {"would_cancel": 3}
    assert models.Task.objects.filter(status="cancelled").count() == 0
    assert as_json("cancel", "--name", "tests.tasks.add") == {"cancelled": 3}
    assert models.Task.objects.filter(status="queued").count() == 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "Give task ids, or at least one of --name"),
        (["--status", "succeeded"], "status must be 'queued', 'running' or both"),
        (["--status", "succeeded", "--dry-run"], "status must be 'queued', 'running' or both"),
        (["01900000-0000-7000-8000-000000000000"], "No task with id"),
    ],
)
def test_cancel_refuses_bad_input(args: list[str], message: str) -> None:
    with pytest.raises(CommandError, match=message):
        taskflow("cancel", *args)


def test_cancel_takes_ids_or_filters_not_both() -> None:
    result = tasks.add.enqueue(1, 2)
    with pytest.raises(CommandError, match="not both"):
        taskflow("cancel", result.id, "--queue", "default")


# -- stats --------------------------------------------------------------------------


def test_stats_counts_by_status_and_queue_with_throughput_and_oldest_ready() -> None:
    tasks.add.enqueue(1, 1)
    tasks.add.using(queue_name="emails").enqueue(2, 2)
    run_tasks(queues=["default"])
    tasks.noop.enqueue()
    figures = as_json("stats")
    assert figures["by_status"]["succeeded"] == 1
    assert figures["by_status"]["queued"] == 2
    assert figures["by_queue"] == {
        "default": {"succeeded": 1, "queued": 1},
        "emails": {"queued": 1},
    }
    assert figures["ready"] == 2
    assert figures["oldest_ready_age_seconds"] >= 0
    assert figures["finished"] == {"1m": 1, "5m": 1, "15m": 1}
    assert figures["throughput_per_second"]["1m"] == round(1 / 60, 3)
    text = taskflow("stats")
    assert "emails" in text and "throughput (tasks/s)" in text


# -- queues -------------------------------------------------------------------------


def test_pause_resume_and_limit_steer_a_queue() -> None:
    assert "paused" in taskflow("pause", "emails")
    assert models.QueueState.objects.get(name="emails").paused
    assert as_json("stats")["queues"]["emails"]["paused"] is True
    taskflow("resume", "emails")
    assert not models.QueueState.objects.get(name="emails").paused
    assert "at most 3 running" in taskflow("limit", "emails", "3")
    assert models.QueueState.objects.get(name="emails").limit_override == 3
    taskflow("limit", "emails", "none")
    assert models.QueueState.objects.get(name="emails").limit_override is None


def test_queue_commands_refuse_unknown_queues_and_bad_limits() -> None:
    with pytest.raises(CommandError, match="queue 'nope' is not in TASKS"):
        taskflow("pause", "nope")
    with pytest.raises(CommandError, match="or none"):
        taskflow("limit", "emails", "0")
    with pytest.raises(CommandError, match="limit"):
        taskflow("limit", "emails")


def test_purge_queue_deletes_its_queued_tasks_only() -> None:
    for n in range(3):
        tasks.add.using(queue_name="emails").enqueue(n, n)
    done = tasks.add.using(queue_name="emails").enqueue(9, 9)
    run_tasks(queues=["emails"])  # runs all four; enqueue three more to purge
    for n in range(3):
        tasks.add.using(queue_name="emails").enqueue(n, n)
    other = tasks.add.enqueue(1, 1)
    assert as_json("purge-queue", "emails", "--dry-run") == {"would_delete": 3, "queue": "emails"}
    assert models.Task.objects.filter(status="queued").count() == 4
    assert taskflow("purge-queue", "emails") == "deleted 3 queued tasks of queue 'emails'\n"
    assert models.Task.objects.filter(queue_name="emails", status="queued").count() == 0
    assert models.Task.objects.filter(pk=done.id, status="succeeded").exists()
    assert models.Task.objects.filter(pk=other.id, status="queued").exists()


def test_purge_queue_requires_a_known_queue() -> None:
    with pytest.raises(CommandError, match="queue"):
        taskflow("purge-queue")
    with pytest.raises(CommandError, match="queue 'nope' is not in TASKS"):
        taskflow("purge-queue", "nope")
