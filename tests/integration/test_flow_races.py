"""Workers advancing one flow at the same instant: the next step is enqueued once."""

from __future__ import annotations

import threading
import uuid

import pytest
from django.db import connections

from django_taskflow import chord, models
from django_taskflow.flows import advance
from tests import flow_tasks as ft


@pytest.mark.parametrize(
    "each_its_own",
    [
        pytest.param(True, id="each worker its own member (the recorder)"),
        pytest.param(False, id="every open step (the sweep)"),
    ],
)
@pytest.mark.django_db(transaction=True)  # each thread needs its own committed view
def test_the_last_members_ending_together_enqueue_the_callback_once(each_its_own: bool) -> None:
    run = chord([ft.start.s(n) for n in range(4)], callback=ft.collect.s()).enqueue()
    members = [uuid.UUID(step.task_id) for step in run.steps[:4]]  # type: ignore[arg-type]
    # Every member's outcome is committed, as four workers would have written them.
    models.Task.objects.filter(pk__in=members).update(status="succeeded", result=1)
    together = threading.Barrier(4)
    errors: list[BaseException] = []

    def advance_now(member: uuid.UUID) -> None:
        try:
            together.wait()
            advance.advance("default", run.id, ended=[member] if each_its_own else None)
        except BaseException as exc:  # reported by the assertion below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=advance_now, args=(member,)) for member in members]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert errors == []
    assert models.Task.objects.filter(flow_id=run.id, flow_position=4).count() == 1
    run.refresh()
    assert [step.state for step in run.steps] == ["succeeded"] * 4 + ["queued"]
