"""Flows run in-process (``run_tasks``): data passing, groups, failures, resume, cancel."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.db import connections
from django.utils import timezone

from django_taskflow import (
    FlowResult,
    InvalidTaskOptions,
    RetryPolicy,
    StepArgumentsMismatch,
    chain,
    chord,
    group,
    models,
    on_flow_complete,
    remove_hook,
    resume,
)
from django_taskflow.flows import advance
from django_taskflow.testing import run_tasks
from tests import flow_tasks as ft

pytestmark = pytest.mark.django_db


def states(run: object) -> list[str]:
    return [step.state for step in run.steps]  # type: ignore[attr-defined]


def test_each_step_gets_the_previous_result_first_or_as_previous() -> None:
    run = chain(ft.start.s(2), ft.add_one.s(), ft.with_previous.s("x")).enqueue()

    run_tasks()
    run.refresh()

    assert run.status == "succeeded"
    assert run.result == {"label": "x", "previous": 3}
    assert run.results() == [2, 3, {"label": "x", "previous": 3}]


def test_steps_are_created_as_the_flow_advances() -> None:
    run = chain(ft.start.s(1), ft.add_one.s(), ft.add_one.s()).enqueue()

    rows = models.Task.objects.filter(flow_id=run.id)
    assert [(t.task_path, t.flow_position, t.args) for t in rows] == [
        ("tests.flow_tasks.start", 0, [1])
    ]
    assert states(run) == ["queued", "pending", "pending"]


def test_a_group_passes_its_results_in_order_to_the_next_step() -> None:
    run = (
        chain(ft.start.s(5))
        .then_all([ft.square.s(index) for index in range(4)])
        .then(ft.collect.s())
        .enqueue()
    )

    run_tasks()
    run.refresh()

    assert run.status == "succeeded"
    assert run.result == [5, 6, 9, 14]


def test_a_chord_callback_runs_once_with_every_result(tmp_path: Path) -> None:
    log = tmp_path / "callback"
    run = chord([ft.start.s(n) for n in range(3)], callback=ft.log_call.s(str(log))).enqueue()

    run_tasks()
    run.refresh()

    assert run.status == "succeeded"
    assert log.read_text().splitlines()[0].endswith("[0, 1, 2]")
    assert len(log.read_text().splitlines()) == 1
    assert models.Task.objects.filter(flow_id=run.id).count() == 4


def test_a_failing_step_stops_the_chain_and_on_error_runs_once(tmp_path: Path) -> None:
    log = tmp_path / "on_error"
    run = chain(
        ft.start.s(1), ft.fail_for_good.s(), ft.add_one.s(), on_error=ft.log_call.s(str(log))
    ).enqueue()

    run_tasks()
    run.refresh()

    assert run.status == "failed"
    assert states(run) == ["succeeded", "failed", "never_run", "succeeded"]
    assert "ValueError: no good" in run.error
    assert len(log.read_text().splitlines()) == 1
    assert "no good" in log.read_text()
    # the never-run step has no task row
    assert not models.Task.objects.filter(flow_id=run.id, flow_position=2).exists()


def test_resume_reruns_the_failed_step_keeping_earlier_results(tmp_path: Path) -> None:
    flag = tmp_path / "broken"
    flag.write_text("yes")
    run = chain(ft.start.s(1), ft.fail_if_file.s(str(flag)), ft.add_one.s()).enqueue()
    run_tasks()
    run.refresh()
    assert run.status == "failed"
    first_task = run.steps[0].task_id

    flag.unlink()
    resume(run)
    run_tasks()
    run.refresh()

    assert run.status == "succeeded"
    assert run.result == 102
    assert run.steps[0].task_id == first_task  # not run again
    assert models.Task.objects.filter(flow_id=run.id, flow_position=0).count() == 1
    assert models.Task.objects.filter(flow_id=run.id, flow_position=1).count() == 2


def test_a_group_member_failing_fails_the_group_but_its_siblings_finish(tmp_path: Path) -> None:
    log = tmp_path / "on_error"
    callback = tmp_path / "callback"
    run = chord(
        [ft.start.s(1), ft.fail_for_good.s(), ft.start.s(3)],
        callback=ft.log_call.s(str(callback)),
        on_error=ft.log_call.s(str(log)),
    ).enqueue()

    run_tasks()
    run.refresh()

    assert run.status == "failed"
    assert states(run) == ["succeeded", "failed", "succeeded", "never_run", "succeeded"]
    assert run.results()[:3] == [1, None, 3]
    assert not callback.exists()
    assert len(log.read_text().splitlines()) == 1


def test_cancel_stops_queued_steps_and_later_ones_never_run() -> None:
    run = chain(ft.start.s(1), ft.add_one.s(), ft.add_one.s()).enqueue()

    assert run.cancel(reason="changed my mind") is True
    assert run_tasks() == 0

    assert run.status == "cancelled"
    assert states(run) == ["cancelled", "never_run", "never_run"]
    assert models.Task.objects.get(flow_id=run.id).status == "cancelled"
    assert run.cancel() is False


def test_a_passed_deadline_fails_the_flow_and_runs_on_error(tmp_path: Path) -> None:
    log = tmp_path / "on_error"
    run = chain(ft.start.s(1), ft.add_one.s(), on_error=ft.log_call.s(str(log))).enqueue(
        deadline=timedelta(minutes=5)
    )

    advance.sweep("default", now=timezone.now() + timedelta(minutes=6))
    run_tasks()
    run.refresh()

    assert run.status == "failed"
    assert "deadline" in run.error
    assert states(run) == ["cancelled", "never_run", "succeeded"]
    assert len(log.read_text().splitlines()) == 1


@pytest.mark.parametrize(
    "steps",
    [
        pytest.param(lambda: [ft.start.s(1, 2)], id="too many for the first step"),
        pytest.param(lambda: [ft.start.s(1), ft.times.s()], id="too few after the first"),
        pytest.param(lambda: [ft.start.s(1), ft.add_one.s(5)], id="no room for the result"),
        pytest.param(lambda: [ft.start.s(1), ft.start.s(nope=2)], id="unknown keyword"),
    ],
)
def test_arguments_that_cannot_fit_are_refused_at_enqueue(steps: object) -> None:
    with pytest.raises(StepArgumentsMismatch, match="cannot be called"):
        chain(*steps()).enqueue()  # type: ignore[operator]

    assert not models.Flow.objects.exists()
    assert not models.Task.objects.exists()


def test_a_step_outcome_missed_by_a_dead_worker_is_advanced_by_the_sweep() -> None:
    run = chain(ft.start.s(4), ft.add_one.s()).enqueue()
    long_ago = timezone.now() - timedelta(seconds=10)
    # As if its worker wrote the outcome and died before advancing the flow.
    models.Task.objects.filter(flow_id=run.id).update(
        status="succeeded", result=4, finished_at=long_ago
    )

    assert advance.sweep("default") == 1
    run.refresh()
    assert states(run) == ["succeeded", "queued"]
    assert advance.sweep("default") == 0

    run_tasks()
    run.refresh()
    assert run.result == 5


def test_advancing_twice_enqueues_the_next_step_once() -> None:
    run = group(ft.start.s(1), ft.start.s(2)).then(ft.collect.s()).enqueue()
    models.Task.objects.filter(flow_id=run.id).update(status="succeeded", result=7)

    advance.advance("default", run.id)
    advance.advance("default", run.id)

    assert models.Task.objects.filter(flow_id=run.id, flow_position=2).count() == 1


def test_flow_options_apply_to_steps_that_do_not_set_their_own() -> None:
    run = chain(ft.start.s(1), ft.add_one.using(priority=7).s()).enqueue(
        tags=["order-42"], priority=3, queue="default"
    )
    run_tasks()

    rows = {t.flow_position: t for t in models.Task.objects.filter(flow_id=run.id)}
    assert (rows[0].priority, rows[0].tags) == (3, ["order-42"])
    assert (rows[1].priority, rows[1].tags) == (7, ["order-42"])


def test_on_flow_complete_fires_once_per_flow(
    django_capture_on_commit_callbacks: Callable[..., Any],
) -> None:
    seen: list[tuple[str, str]] = []

    def hook(flow: models.Flow) -> None:
        seen.append((str(flow.id), flow.status))

    on_flow_complete(hook)
    try:
        with django_capture_on_commit_callbacks(execute=True):
            run = chain(ft.start.s(1), ft.add_one.s()).enqueue()
            run_tasks()
    finally:
        remove_hook(hook)

    assert seen == [(run.id, "succeeded")]


@pytest.mark.django_db(transaction=True)
def test_aenqueue_and_await() -> None:
    async def enqueue() -> FlowResult:
        run = await chain(ft.start.s(1), ft.add_one.s()).aenqueue()
        await sync_to_async(connections.close_all)()
        return run

    run = asyncio.run(enqueue())
    run_tasks()

    async def wait() -> object:
        await run.await_(timeout=5)
        await sync_to_async(connections.close_all)()
        return run.result

    assert asyncio.run(wait()) == 2


def test_a_deduplicating_step_is_refused_at_enqueue() -> None:
    from tests import tasks

    with pytest.raises(InvalidTaskOptions, match="deduplicates"):
        chain(ft.start.s(1), tasks.deduplicated_add.s()).enqueue()

    assert not models.Flow.objects.exists()


def test_the_flows_retry_options_apply_to_its_steps() -> None:
    run = chain(ft.start.s(6), ft.fails_first_time.s()).enqueue(
        max_attempts=2, retry=RetryPolicy.fixed(0)
    )

    run_tasks()
    run.refresh()

    assert run.status == "succeeded"
    assert run.result == 6
    assert models.Task.objects.get(flow_id=run.id, flow_position=1).attempts == 2


@pytest.mark.parametrize(
    "build",
    [
        pytest.param(lambda: chain(), id="empty chain"),
        pytest.param(lambda: group(), id="empty group"),
        pytest.param(lambda: group(ft.start), id="a definition, not a step"),
        pytest.param(lambda: chain(ft.start.s(1), "nope"), id="not a part"),
        pytest.param(
            lambda: chain(ft.start.s(1)).enqueue(deadline=timedelta(0)), id="zero deadline"
        ),
    ],
)
def test_malformed_flows_are_refused_where_they_are_built(build: Callable[[], object]) -> None:
    with pytest.raises(InvalidTaskOptions):
        build()

    assert not models.Flow.objects.exists()
