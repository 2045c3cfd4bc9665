"""Child tasks: spawned with the parent's successful outcome, never with a failed one."""

from __future__ import annotations

import pytest

from django_taskflow import models
from django_taskflow.testing import run_tasks
from tests import flow_tasks as ft

pytestmark = pytest.mark.django_db


def test_children_of_a_failed_attempt_never_exist() -> None:
    parent = ft.spawn_then_fail_once.enqueue(3)

    run_tasks()

    assert models.Task.objects.get(pk=parent.id).status == "succeeded"
    (family,) = models.Flow.objects.filter(parent_task=parent.id)
    children = models.Task.objects.filter(flow=family).order_by("flow_position")
    # Only the second attempt's children: their second argument is the attempt.
    assert [(child.args, child.status) for child in children] == [
        ([0, 2], "succeeded"),
        ([1, 2], "succeeded"),
        ([2, 2], "succeeded"),
    ]
    family.refresh_from_db()
    assert family.status == "succeeded"
    assert models.Task.objects.filter(task_path="tests.flow_tasks.times").count() == 3


def test_a_child_whose_arguments_cannot_fit_fails_its_parent_attempt() -> None:
    parent = ft.spawn_bad_child.enqueue()

    run_tasks()

    row = models.Task.objects.get(pk=parent.id)
    assert row.status == "failed"
    assert "StepArgumentsMismatch" in row.attempt_set.get().error_class
    assert not models.Flow.objects.exists()
