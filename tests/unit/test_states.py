"""Task states: how they map onto django.tasks and which moves are allowed."""

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


def test_every_status_has_an_entry_in_transitions() -> None:
    assert set(states.TRANSITIONS) == set(Status)


@pytest.mark.parametrize("status", [Status.SUCCEEDED, Status.FAILED, Status.CANCELLED])
def test_terminal_states_have_no_outgoing_transitions(status: Status) -> None:
    assert states.TRANSITIONS[status] == frozenset()


def test_finished_states_are_exactly_those_without_outgoing_transitions() -> None:
    dead_ends = {status for status, targets in states.TRANSITIONS.items() if not targets}

    assert dead_ends == states.FINISHED


def test_queued_task_can_only_start_or_be_cancelled() -> None:
    assert states.TRANSITIONS[Status.QUEUED] == {Status.RUNNING, Status.CANCELLED}


def test_running_task_can_finish_be_cancelled_or_go_back_to_the_queue() -> None:
    assert states.TRANSITIONS[Status.RUNNING] == {
        Status.SUCCEEDED,
        Status.FAILED,
        Status.CANCELLED,
        Status.QUEUED,
    }


@pytest.mark.parametrize(
    ("status", "finished"),
    [
        (Status.QUEUED, False),
        (Status.RUNNING, False),
        (Status.SUCCEEDED, True),
        (Status.FAILED, True),
        (Status.CANCELLED, True),
        ("queued", False),
        ("cancelled", True),
    ],
)
def test_is_finished_tells_terminal_states_apart(status: str, finished: bool) -> None:
    assert states.is_finished(status) is finished
