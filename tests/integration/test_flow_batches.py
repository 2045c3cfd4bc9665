"""Batches in-process: counts, callbacks, concurrency, refused items."""

from __future__ import annotations

from pathlib import Path

import pytest

from django_taskflow import (
    BatchProgress,
    StepArgumentsMismatch,
    UnserializablePayload,
    batch,
    models,
)
from django_taskflow.testing import run_tasks
from tests import flow_tasks as ft

pytestmark = pytest.mark.django_db


def lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


def test_a_batch_without_failures_calls_on_complete_and_finally(tmp_path: Path) -> None:
    logs = {name: tmp_path / name for name in ("complete", "failure", "finally")}
    run = batch(
        ft.item,
        [{"number": n} for n in range(5)],
        on_complete=ft.log_call.s(str(logs["complete"])),
        on_failure=ft.log_call.s(str(logs["failure"])),
        finally_=ft.log_call.s(str(logs["finally"])),
    )
    assert run.progress == BatchProgress(done=0, failed=0, total=5)

    run_tasks()
    run.refresh()

    assert run.status == "succeeded"
    assert run.progress == BatchProgress(done=5, failed=0, total=5)
    assert [len(lines(logs[name])) for name in ("complete", "failure", "finally")] == [1, 0, 1]
    # A callback naming `previous` gets each item's outcome.
    # (jsonb on PostgreSQL orders each outcome's keys its own way)
    assert lines(logs["complete"])[0].count("'status': 'succeeded'") == 5
    assert "'result': 8" in lines(logs["complete"])[0]


def test_concurrency_caps_the_items_enqueued_at_once() -> None:
    run = batch(ft.item, [[n] for n in range(10)], concurrency=3)

    assert models.Task.objects.filter(flow_id=run.id).count() == 3
    run_tasks()
    run.refresh()

    assert models.Task.objects.filter(flow_id=run.id).count() == 10
    assert run.results()[9] == {"status": "succeeded", "result": 18}
    assert run.progress == BatchProgress(done=9, failed=1, total=10)


@pytest.mark.parametrize(
    ("items", "error"),
    [
        pytest.param([{"number": 1}, {"number": object()}], UnserializablePayload, id="not JSON"),
        pytest.param([{"number": 1}, {"numbr": 2}], StepArgumentsMismatch, id="wrong keyword"),
    ],
)
def test_a_bad_item_refuses_the_whole_batch(items: list[object], error: type) -> None:
    with pytest.raises(error):
        batch(ft.item, items)

    assert not models.Flow.objects.exists()
    assert not models.Task.objects.exists()
