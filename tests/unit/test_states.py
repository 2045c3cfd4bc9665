"""Task states: how they map onto django.tasks."""

from __future__ import annotations

import pytest
from django.tasks import TaskResultStatus

from django_taskflow import states
from django_taskflow.states import Status


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (Status.QUEUED, TaskResultStatus.READY),
        (Status.RUNNING, TaskResultStatus.RUNNING),
        (Status.SUCCEEDED, TaskResultStatus.SUCCESSFUL),
        (Status.FAILED, TaskResultStatus.FAILED),
        (Status.CANCELLED, TaskResultStatus.FAILED),
    ],
)
def test_status_maps_to_the_django_tasks_status(status: Status, expected: TaskResultStatus) -> None:
    assert states.to_django(status) == expected


def test_to_django_accepts_the_stored_string() -> None:
    assert states.to_django("succeeded") == TaskResultStatus.SUCCESSFUL


def test_to_django_refuses_an_unknown_status() -> None:
    with pytest.raises(ValueError, match="'paused'"):
        states.to_django("paused")
