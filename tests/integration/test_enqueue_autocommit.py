"""Enqueue outside any transaction: one statement, still all or nothing."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from django.db import IntegrityError, connection
from django.tasks.signals import task_enqueued

from django_taskflow import models
from django_taskflow.exceptions import MigrationsNotApplied
from tests import tasks

pytestmark = pytest.mark.django_db(transaction=True)


@contextmanager
def autocommit_at_each_statement() -> Iterator[list[bool]]:
    """Record, for each statement run, whether the connection was in autocommit."""
    seen: list[bool] = []

    def wrapper(
        execute: Callable[..., Any], sql: str, params: Any, many: bool, context: Any
    ) -> Any:
        seen.append(connection.get_autocommit())
        return execute(sql, params, many, context)

    with connection.execute_wrapper(wrapper):
        yield seen


def test_one_enqueue_is_one_statement_without_begin_or_commit() -> None:
    with autocommit_at_each_statement() as seen:
        result = tasks.add.enqueue(1, 2)

    # One INSERT, committed by itself: no BEGIN and COMMIT round trips around it.
    assert seen == [True]
    assert models.Task.objects.get(pk=result.id).status == "queued"


@pytest.mark.parametrize("count", [3, 60])  # a multi-row INSERT, and COPY on PostgreSQL
def test_enqueue_many_in_autocommit_is_all_or_nothing(
    monkeypatch: pytest.MonkeyPatch, count: int
) -> None:
    # The last row repeats a primary key, so the database refuses it after
    # the others were written.
    ids = [uuid.uuid4() for _ in range(count - 1)]
    ids.append(ids[0])
    monkeypatch.setattr(models, "new_task_id", iter(ids).__next__)

    with pytest.raises(IntegrityError):
        tasks.add.enqueue_many([(1, 2)] * count)

    assert not models.Task.objects.exists()


def test_task_enqueued_is_sent_once_the_row_is_committed() -> None:
    seen: list[tuple[bool, bool]] = []

    def receiver(sender: object, task_result: Any, **kwargs: object) -> None:
        # No transaction is open, so the row the receiver finds is committed.
        exists = models.Task.objects.filter(pk=task_result.id).exists()
        seen.append((connection.get_autocommit(), exists))

    task_enqueued.connect(receiver)
    try:
        tasks.add.enqueue(1, 2)
    finally:
        task_enqueued.disconnect(receiver)
    assert seen == [(True, True)]


def test_enqueue_before_migrate_in_autocommit_says_to_run_migrate(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(models.Task._meta, "db_table", "django_taskflow_not_migrated")

    with pytest.raises(MigrationsNotApplied, match=r"manage\.py migrate"):
        tasks.add.enqueue(1, 2)


def test_enqueue_records_no_event() -> None:
    # Enqueue skips BEGIN because it writes no Event row. An enqueue that
    # records one must hold its transaction id before drawing the event's
    # id (db.postgres.assign_transaction_id), or event streams may skip it.
    tasks.add.enqueue(1, 2)
    tasks.add.enqueue_many([(1, 2)] * 60)

    assert not models.Event.objects.exists()
