"""Slot recycling options: validated where given, and when a slot is due for replacement."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from django_taskflow.exceptions import ConfigurationError
from django_taskflow.management.commands.taskworker import describe_recycling
from django_taskflow.worker import WorkerOptions, recycling
from django_taskflow.worker.recycling import Recycling


@pytest.mark.parametrize("option", ["--max-tasks-per-slot", "--max-memory-per-slot"])
@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("0", "must be at least 1, got 0"),
        ("-5", "must be at least 1"),
        ("lots", "must be a whole number, got .lots."),
    ],
)
def test_the_command_line_refuses_a_limit_that_is_not_a_positive_whole_number(
    option: str, value: str, message: str
) -> None:
    with pytest.raises(CommandError, match=f"argument {option}: {message}"):
        call_command("taskworker", option, value)


def test_a_memory_limit_needs_the_process_pool() -> None:
    with pytest.raises(CommandError, match="--max-memory-per-slot needs --pool process"):
        call_command("taskworker", "--pool", "thread", "--max-memory-per-slot", "500")


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (
            {"max_tasks_per_slot": 0},
            "max_tasks_per_slot must be a whole number of at least 1, got 0",
        ),
        ({"max_memory_per_slot": -1}, "max_memory_per_slot must be a whole number of at least 1"),
        ({"max_tasks_per_slot": 2.5}, "max_tasks_per_slot must be a whole number"),
        ({"max_tasks_per_slot": True}, "max_tasks_per_slot must be a whole number"),
        (
            {"pool": "thread", "max_memory_per_slot": 100},
            "max_memory_per_slot needs the process pool",
        ),
    ],
)
def test_worker_options_refuse_bad_limits(changes: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        WorkerOptions(**changes)  # type: ignore[arg-type]


def test_a_task_limit_is_due_once_the_slot_ran_that_many() -> None:
    limits = Recycling(max_tasks=3)
    assert limits.reason(2) is None
    assert limits.reason(3) == "it ran 3 tasks (--max-tasks-per-slot 3)"


def test_a_memory_limit_is_due_once_the_process_uses_more(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(recycling, "resident_memory_mb", lambda: 512.4)
    assert Recycling(max_memory_mb=600).reason(1) is None
    assert Recycling(max_memory_mb=500).reason(1) == "it uses 512 MB (--max-memory-per-slot 500)"


def test_resident_memory_grows_with_what_the_process_keeps() -> None:
    before = recycling.resident_memory_mb()
    kept = bytearray(b"x" * (64 * 1024 * 1024))
    assert recycling.resident_memory_mb() >= before + 48
    assert kept[-1] == ord("x")


def test_no_limit_means_no_recycling() -> None:
    assert not Recycling().is_enabled
    assert Recycling().reason(10**6) is None


def test_the_banner_says_when_a_slot_is_replaced() -> None:
    assert describe_recycling(WorkerOptions()) == "off"
    assert (
        describe_recycling(WorkerOptions(max_tasks_per_slot=1000, max_memory_per_slot=512))
        == "a slot is replaced after 1000 tasks or past 512 MB"
    )
