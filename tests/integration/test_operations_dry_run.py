"""Dry runs of operations, and the operations package's public names."""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable
from typing import Any

import pytest
from django.utils import timezone

import django_taskflow
from django_taskflow import models, operations
from django_taskflow.testing import run_tasks
from tests import tasks

pytestmark = pytest.mark.django_db

UNKNOWN_ID = "0190a0a0-0000-7000-8000-000000000000"


def mixed_tasks() -> list[str]:
    """One task in each state an operator meets: failed, waiting, ready, done, unique-taken."""
    failed = tasks.fail_always.enqueue("boom")
    waiting = tasks.fail_with_backoff.enqueue()
    done = tasks.add.enqueue(1, 2)
    run_tasks()
    ready = tasks.add.enqueue(3, 4)
    unique = tasks.unique_add.enqueue(1, 1)
    models.Task.objects.filter(pk=unique.id).update(status="failed")
    tasks.unique_add.enqueue(1, 1)  # a copy waits: the failed one's key is taken
    return [failed.id, waiting.id, done.id, ready.id, unique.id, UNKNOWN_ID]


def snapshot() -> list[tuple[object, ...]]:
    return list(
        models.Task.objects.order_by("pk").values_list("pk", "status", "max_attempts", "run_after")
    )


@pytest.mark.parametrize("operation", [operations.retry_now, operations.requeue])
def test_a_dry_run_reports_what_the_real_run_does_and_changes_nothing(
    operation: Callable[..., Any],
) -> None:
    ids = mixed_tasks()
    before, events = snapshot(), models.Event.objects.count()
    dry = operation(ids, by="dora", dry_run=True)
    assert (snapshot(), models.Event.objects.count()) == (before, events)
    real = operation(ids, by="dora")
    assert (dry.changed, dict(dry.refused)) == (real.changed, dict(real.refused))
    assert real.changed >= 1 and real.refused and dry.new_ids == []


def test_a_dry_run_by_filter_walks_the_same_selection() -> None:
    mixed_tasks()
    dry = operations.retry_now(status="failed", dry_run=True)
    real = operations.retry_now(status="failed")
    assert (
        (dry.changed, dict(dry.refused))
        == (real.changed, dict(real.refused))
        == (
            1,
            {"a copy of this unique task is already queued or running": 1},
        )
    )


def test_cancel_dry_run_counts_what_cancel_would_change() -> None:
    queued = [tasks.add.enqueue(n, n).id for n in range(3)]
    models.Task.objects.filter(pk=queued[0]).update(
        status="running", cancel_requested_at=timezone.now()
    )  # already asked to stop: not counted again
    assert operations.cancel_tasks("tests.tasks.add", dry_run=True) == 2
    assert operations.cancel(queued[1], dry_run=True) == 1
    assert operations.cancel(queued[0], dry_run=True) == 0
    assert models.Task.objects.filter(status="cancelled").count() == 0
    assert operations.cancel_tasks("tests.tasks.add") == 2


def test_every_public_name_imports_from_the_package_and_each_twin_is_async() -> None:
    for name in operations.__all__:
        value = getattr(importlib.import_module("django_taskflow.operations"), name)
        twin = getattr(operations, f"a{name}", None)
        if twin is not None:
            assert inspect.iscoroutinefunction(twin), name
            assert inspect.signature(twin).parameters == inspect.signature(value).parameters
    for name in django_taskflow.__all__:
        assert getattr(django_taskflow, name) is not None
    assert django_taskflow.retry_now is operations.retry_now
