"""Flows and deleted tasks: retention prunes finished flows, the sweep fails a flow
whose step's task is gone, and a flow's wait times out saying where it stands."""

from __future__ import annotations

import json
from datetime import timedelta
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.utils import timezone

from django_taskflow import ResultTimeout, batch, chain, models, operations, retention
from django_taskflow.flows import advance
from django_taskflow.flows.handle import FlowResult
from django_taskflow.testing import run_tasks
from django_taskflow.worker.retention_duty import RetentionDuty
from tests import flow_tasks as ft

pytestmark = pytest.mark.django_db

# Past the sweep's quiet time at the default lease (QUIET_LEASES leases of 30 s).
AFTER_QUIET = timedelta(seconds=30 * advance.QUIET_LEASES + 1)


def finished_flow(*, age: timedelta = timedelta(days=40), fail: bool = False) -> FlowResult:
    """A chain run to its end, its flow and its tasks made to have finished ``age`` ago."""
    steps = [ft.start.s(1), ft.fail_for_good.s()] if fail else [ft.start.s(1), ft.add_one.s()]
    run = chain(*steps).enqueue()
    run_tasks()
    run.refresh()
    assert run.status == ("failed" if fail else "succeeded")
    then = timezone.now() - age
    models.Flow.objects.filter(pk=run.id).update(finished_at=then)
    models.Task.objects.filter(flow_id=run.id).update(finished_at=then)
    return run


def flow_exists(run: FlowResult) -> bool:
    return models.Flow.objects.filter(pk=run.id).exists()


def test_prune_deletes_a_finished_flow_with_its_last_task() -> None:
    old, recent = finished_flow(), finished_flow(age=timedelta(days=1))

    report = operations.prune(timedelta(days=30))

    assert (report.deleted["succeeded"], report.flows) == (2, 1)
    assert not flow_exists(old)
    assert flow_exists(recent)
    assert models.Task.objects.filter(flow_id=recent.id).count() == 2


def test_a_flow_stays_while_any_of_its_tasks_is_kept() -> None:
    # A failed chain: its first task succeeded, its second failed.
    run = finished_flow(fail=True)

    report = operations.prune(timedelta(days=30), status=["succeeded"])

    assert (report.deleted["succeeded"], report.flows) == (1, 0)
    assert flow_exists(run)  # its failed task is kept, and links to it
    assert operations.prune(timedelta(days=30), status=["failed"]).flows == 1
    assert not flow_exists(run)


def test_a_running_flow_is_never_pruned() -> None:
    run = chain(ft.start.s(1), ft.add_one.s()).enqueue()
    models.Task.objects.filter(flow_id=run.id).delete()
    models.Flow.objects.filter(pk=run.id).update(created_at=timezone.now() - timedelta(days=90))

    assert operations.prune(timedelta(days=30)).flows == 0
    assert flow_exists(run)


def test_dry_run_counts_the_flows_the_prune_would_leave_without_tasks() -> None:
    old = finished_flow()
    finished_flow(fail=True)  # keeps its failed task: not counted

    report = operations.prune(timedelta(days=30), status=["succeeded"], dry_run=True)

    assert (report.deleted, report.flows) == ({"succeeded": 3}, 1)
    assert flow_exists(old)


def test_flows_go_in_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    runs = [finished_flow() for _ in range(5)]

    report = retention.prune(timedelta(days=30), status="succeeded", chunk_size=2)

    assert report.flows == 5
    assert not any(flow_exists(run) for run in runs)
    # tasks: 2, 2, 2, 2, 2, 0; flows: 2, 2, 1; service events, dead messages and
    # ended services: 0, 0, 0; expired dedup keys: 0
    assert report.chunks == 6 + 3 + 3 + 1


def test_prune_command_says_how_many_flows_went() -> None:
    finished_flow()
    out = StringIO()
    call_command("taskflow", "prune", "--older-than", "30d", "--dry-run", "--json", stdout=out)
    assert json.loads(out.getvalue())["flows"] == 1
    out = StringIO()
    call_command("taskflow", "prune", "--older-than", "30d", "--status", "succeeded", stdout=out)
    assert out.getvalue() == "deleted 2 tasks (succeeded: 2) and 1 finished flow\n"


def test_workers_prune_finished_flows_by_retention() -> None:
    old, recent = finished_flow(), finished_flow(age=timedelta(hours=1))
    clock = [0.0]
    duty = RetentionDuty(
        database="default",
        backend="default",
        retention_by_status={"succeeded": timedelta(days=7)},
        holder="host:1",
        chunk_size=2,
        clock=lambda: clock[0],
    )
    while duty.run_if_due() is not None:
        clock[0] += duty.due_in()

    assert not flow_exists(old)
    assert flow_exists(recent)


# -- a step whose task is gone ---------------------------------------------------------


def test_a_flow_whose_step_task_was_deleted_fails_saying_so(tmp_path: Path) -> None:
    log = tmp_path / "on_error"
    run = chain(ft.start.s(1), ft.add_one.s(), on_error=ft.log_call.s(str(log))).enqueue()
    [step_id] = models.Task.objects.filter(flow_id=run.id).values_list("id", flat=True)
    models.Task.objects.filter(pk=step_id).delete()

    assert advance.sweep("default") == 0  # not quiet yet: left alone
    run.refresh()
    assert run.status == "running"

    assert advance.sweep("default", timezone.now() + AFTER_QUIET) == 1
    run_tasks()
    run.refresh()
    assert run.status == "failed"
    assert run.error == (
        f"step 0 (tests.flow_tasks.start) failed: its task {step_id} was deleted "
        "before the flow took in its outcome"
    )
    assert [s.state for s in run.steps] == ["failed", "never_run", "succeeded"]
    assert log.read_text().count("\n") == 1  # on_error ran


def test_a_batch_item_whose_task_was_deleted_fails_alone() -> None:
    run = batch(ft.item, [(1,), (2,), (3,)])
    models.Task.objects.filter(flow_id=run.id, flow_position=1).delete()
    run_tasks()

    advance.sweep("default", timezone.now() + AFTER_QUIET)
    run.refresh()

    assert run.status == "failed"
    assert run.error == "1 of 3 items failed"
    outcomes = run.results()
    assert [o["status"] for o in outcomes] == ["succeeded", "failed", "succeeded"]
    assert "was deleted before the flow took in its outcome" in outcomes[1]["error"]


def test_a_pruned_step_that_ended_unnoticed_fails_its_flow() -> None:
    run = chain(ft.start.s(1), ft.add_one.s()).enqueue()
    # The worker died between the outcome's commit and the advance...
    models.Task.objects.filter(flow_id=run.id).update(
        status="succeeded", finished_at=timezone.now() - timedelta(days=40)
    )
    # ... and retention took the task before any sweep.
    operations.prune(timedelta(days=30))

    advance.sweep("default", timezone.now() + AFTER_QUIET)
    run.refresh()

    assert run.status == "failed"
    assert "was deleted before the flow took in its outcome" in run.error


def test_a_quiet_flow_with_its_tasks_is_left_as_it_is() -> None:
    run = chain(ft.start.s(1), ft.add_one.s()).enqueue()

    assert advance.sweep("default", timezone.now() + AFTER_QUIET) == 1
    run.refresh()

    assert run.status == "running"
    assert [s.state for s in run.steps] == ["queued", "pending"]
    run_tasks()
    assert run.wait(timeout=5).result == 2


def test_wait_times_out_saying_where_the_flow_stands() -> None:
    run = chain(ft.start.s(1), ft.add_one.s()).enqueue()
    with pytest.raises(ResultTimeout, match=rf"Flow {run.id} is still running after 0.01 s"):
        run.wait(timeout=0.01)
