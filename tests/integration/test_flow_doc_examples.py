"""The examples of docs/howto/flows.md, run for real."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from django_taskflow import BatchProgress, StepArgumentsMismatch, models
from django_taskflow.testing import run_tasks
from testproject.docs_examples import flows

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def empty_records() -> Iterator[None]:
    flows.LEDGER.clear()
    flows.FINISHED.clear()
    yield
    flows.LEDGER.clear()
    flows.FINISHED.clear()


def test_the_payment_chain_passes_results_through_the_group(
    django_capture_on_commit_callbacks: Callable[..., Any],
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        run = flows.pay(500)
        run_tasks()
    run.refresh()

    assert run.status == "succeeded"
    assert run.results()[:4] == [500, "paid 500", "receipt for paid 500", "ledger: paid 500"]
    assert run.result == 2
    assert flows.LEDGER == ["paid 500"]
    assert flows.FINISHED == ["chain succeeded"]
    assert models.Task.objects.get(flow_id=run.id, flow_position=0).tags == ["payments"]


def test_a_failed_payment_runs_on_error_with_the_error() -> None:
    run = flows.pay(0)
    run_tasks()
    run.refresh()

    assert run.status == "failed"
    assert [step.state for step in run.steps] == ["failed", *["never_run"] * 4, "succeeded"]
    assert flows.LEDGER == [
        "failed: step 0 (testproject.docs_examples.flows.validate_payment) failed: "
        "builtins.ValueError: amount must be positive, got 0"
    ]


def test_bound_arguments_that_cannot_fit_are_refused() -> None:
    with pytest.raises(StepArgumentsMismatch):
        flows.chain(flows.validate_payment.s(1, 2)).enqueue()


def test_the_chord_passes_results_in_order_by_name() -> None:
    run = flows.publish(["a.jpg", "b.jpg"])
    run_tasks()
    run.refresh()

    assert run.result == "Holidays: a.jpg@800, b.jpg@800"


def test_the_batch_reports_each_outcome() -> None:
    run = flows.mail_everyone(["a@b.example", "c@d.invalid", "e@f.example"])
    run_tasks()
    run.refresh()

    assert run.progress == BatchProgress(done=2, failed=1, total=3)
    assert run.results()[1]["status"] == "failed"
    assert flows.LEDGER == ["2 of 3 sent"]


def test_spawned_children_are_linked_to_their_parent() -> None:
    parent = flows.import_feed.enqueue(["u1", "u2"])
    run_tasks()

    family = models.Flow.objects.get(parent_task=parent.id)
    assert sorted(models.Task.objects.filter(flow=family).values_list("result", flat=True)) == [
        "fetched u1",
        "fetched u2",
    ]
