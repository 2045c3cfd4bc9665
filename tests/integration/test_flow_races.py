"""Two workers advancing one flow at the same instant: the next step is enqueued once."""

from __future__ import annotations

import threading

import pytest
from django.db import connections

from django_taskflow import chord, models
from django_taskflow.flows import advance
from tests import flow_tasks as ft


@pytest.mark.django_db(transaction=True)  # each thread needs its own committed view
def test_the_last_two_members_ending_together_enqueue_the_callback_once() -> None:
    run = chord([ft.start.s(1), ft.start.s(2)], callback=ft.collect.s()).enqueue()
    # Both members' outcomes are committed, as two workers would have written them.
    models.Task.objects.filter(flow_id=run.id).update(status="succeeded", result=1)
    together = threading.Barrier(4)
    errors: list[BaseException] = []

    def advance_now() -> None:
        try:
            together.wait()
            advance.advance("default", run.id)
        except BaseException as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=advance_now) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert errors == []
    assert models.Task.objects.filter(flow_id=run.id, flow_position=2).count() == 1
    run.refresh()
    assert [step.state for step in run.steps] == ["succeeded", "succeeded", "queued"]
