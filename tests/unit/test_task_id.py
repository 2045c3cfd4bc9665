"""Task ids: version-7 UUIDs, so ids follow enqueue order."""

from __future__ import annotations

import itertools
import uuid
from types import SimpleNamespace

import pytest

from django_taskflow.models import new_task_id
from django_taskflow.models import task as task_module

MILLIS = 1_740_000_000_000  # 2025-02-19, in milliseconds since the epoch


def freeze_clock(monkeypatch: pytest.MonkeyPatch, *millis: int) -> None:
    """Make ``new_task_id`` read the given times (in ms), the last one forever."""
    values = itertools.chain(millis, itertools.repeat(millis[-1]))
    monkeypatch.setattr(
        task_module, "time", SimpleNamespace(time_ns=lambda: next(values) * 1_000_000)
    )
    # Forget ids made earlier in this process (at the real, later time).
    monkeypatch.setattr(task_module, "_last_id", (0, 0))


def test_task_ids_are_version_7_rfc_4122_uuids() -> None:
    for task_id in [new_task_id() for _ in range(200)]:
        assert task_id.version == 7
        assert task_id.variant == uuid.RFC_4122


def test_task_ids_are_unique() -> None:
    ids = [new_task_id() for _ in range(10_000)]

    assert len(set(ids)) == len(ids)


def test_task_id_starts_with_its_creation_time_in_milliseconds(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    freeze_clock(monkeypatch, MILLIS)

    assert new_task_id().int >> 80 == MILLIS


def test_task_ids_sort_by_creation_time(monkeypatch: pytest.MonkeyPatch) -> None:
    freeze_clock(monkeypatch, *range(MILLIS, MILLIS + 100))
    ids = [new_task_id() for _ in range(100)]

    assert ids == sorted(ids)
    assert [str(task_id) for task_id in ids] == sorted(str(task_id) for task_id in ids)


def test_task_ids_made_in_the_same_millisecond_sort_by_creation(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    freeze_clock(monkeypatch, MILLIS)
    ids = [new_task_id() for _ in range(100)]

    assert ids == sorted(ids)


def test_ids_stay_ordered_when_the_clock_steps_back(monkeypatch: pytest.MonkeyPatch) -> None:
    freeze_clock(monkeypatch, MILLIS, MILLIS - 5, MILLIS - 10)
    ids = [new_task_id() for _ in range(3)]

    assert ids == sorted(ids)
    assert len(set(ids)) == 3


def test_more_than_4096_ids_in_one_millisecond_stay_ordered(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    freeze_clock(monkeypatch, MILLIS)
    ids = [new_task_id() for _ in range(6000)]

    assert ids == sorted(ids)
    assert all(task_id.version == 7 for task_id in ids)
