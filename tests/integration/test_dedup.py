"""Deduplication (``dedup=``) and uniqueness (``unique=True``) at enqueue."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.db import DatabaseError, connections, transaction
from django.utils import timezone

from django_taskflow import Dedup, enqueue, models
from django_taskflow.db import sqlite as sqlite_dialect
from django_taskflow.exceptions import InvalidTaskOptions, PayloadTooLarge, UnserializablePayload
from django_taskflow.states import Status
from django_taskflow.testing import run_tasks
from tests import tasks
from tests.conftest import claim_for

pytestmark = pytest.mark.django_db


def enqueue_at(at: datetime, definition: Any, *args: Any, **kwargs: Any) -> Any:
    """Enqueue as if the clock read ``at``."""
    return enqueue.enqueue(definition.get_backend(), definition, args, kwargs, now=at)


def test_a_duplicate_enqueue_returns_the_existing_task_marked_deduplicated() -> None:
    first = tasks.deduplicated_add.enqueue(1, 2)
    again = tasks.deduplicated_add.enqueue(1, 2)

    assert (first.deduplicated, again.deduplicated) == (False, True)
    assert again.id == first.id
    assert models.Task.objects.count() == 1
    assert again.args == [1, 2]


def test_the_same_call_written_differently_is_a_duplicate() -> None:
    first = tasks.deduplicated_add.enqueue(1)
    assert tasks.deduplicated_add.enqueue(a=1).id == first.id
    assert tasks.deduplicated_add.enqueue(1, b=0).id == first.id  # the default, spelled out
    assert not tasks.deduplicated_add.enqueue(1, 1).deduplicated
    assert models.Task.objects.count() == 2


def test_a_plain_task_is_never_marked_deduplicated() -> None:
    assert not tasks.add.enqueue(1, 2).deduplicated
    assert not tasks.add.enqueue(1, 2).deduplicated
    assert models.Task.objects.count() == 2


def test_by_fields_deduplicates_on_the_named_arguments_only() -> None:
    first = tasks.deduplicated_by_user.enqueue(7, note="a")
    again = tasks.deduplicated_by_user.enqueue(7, note="b")
    other = tasks.deduplicated_by_user.enqueue(8, note="a")

    assert again.id == first.id and again.deduplicated
    assert not other.deduplicated
    assert models.Task.objects.get(pk=first.id).kwargs == {"note": "a"}  # the first call's


def test_by_key_deduplicates_on_the_callers_key() -> None:
    first = tasks.deduplicated_by_key.using(key="invoice-17").enqueue(1)
    again = tasks.deduplicated_by_key.using(key="invoice-17").enqueue(2)
    other = tasks.deduplicated_by_key.using(key="invoice-18").enqueue(1)

    assert again.id == first.id and again.deduplicated
    assert not other.deduplicated


def test_by_key_without_a_key_is_refused_and_writes_nothing() -> None:
    with pytest.raises(InvalidTaskOptions, match=r"using\(key=\.\.\.\)"):
        tasks.deduplicated_by_key.enqueue(1)
    assert not models.Task.objects.exists()
    assert not models.DedupKey.objects.exists()


def test_the_key_is_held_until_its_ttl_passes_whatever_the_outcome() -> None:
    start = timezone.now()
    first = enqueue_at(start, tasks.deduplicated_add, 1, 2)
    run_tasks()
    assert models.Task.objects.get(pk=first.id).status == Status.SUCCEEDED

    still_held = enqueue_at(start + timedelta(minutes=4, seconds=59), tasks.deduplicated_add, 1, 2)
    assert still_held.id == first.id and still_held.deduplicated
    assert still_held.status.name == "SUCCESSFUL"
    assert still_held.return_value == 3

    after_ttl = enqueue_at(start + timedelta(minutes=5), tasks.deduplicated_add, 1, 2)
    assert not after_ttl.deduplicated and after_ttl.id != first.id
    key = models.DedupKey.objects.get()
    assert (str(key.task_id), key.expires_at) == (after_ttl.id, start + timedelta(minutes=10))


def test_a_key_whose_task_was_deleted_is_taken_over() -> None:
    first = tasks.deduplicated_add.enqueue(1, 2)
    models.Task.objects.filter(pk=first.id).delete()  # pruned, say

    again = tasks.deduplicated_add.enqueue(1, 2)

    assert not again.deduplicated
    assert str(models.DedupKey.objects.get().task_id) == again.id


def test_refresh_keeps_the_deduplicated_flag() -> None:
    tasks.deduplicated_add.enqueue(5)
    again = tasks.deduplicated_add.enqueue(5)
    run_tasks()
    again.refresh()
    assert again.deduplicated and again.return_value == 5


def test_unique_holds_while_queued_and_running_and_frees_when_finished() -> None:
    first = tasks.unique_add.enqueue(1, 2)
    assert tasks.unique_add.enqueue(1, 2).id == first.id
    assert not tasks.unique_add.enqueue(2, 2).deduplicated  # another call

    claim_for("w", limit=2)  # both running now
    running_duplicate = tasks.unique_add.enqueue(1, 2)
    assert running_duplicate.id == first.id and running_duplicate.deduplicated
    assert running_duplicate.status.name == "RUNNING"

    models.Task.objects.filter(worker_id="w").update(status=Status.SUCCEEDED, worker_id=None)
    after = tasks.unique_add.enqueue(1, 2)
    assert not after.deduplicated and after.id != first.id
    assert models.Task.objects.filter(unique_key__isnull=False).count() == 3


def test_unique_is_free_again_after_a_real_run_or_a_failure() -> None:
    first = tasks.unique_add.enqueue(1, 2)
    run_tasks()
    second = tasks.unique_add.enqueue(1, 2)
    assert not second.deduplicated and second.id != first.id


def test_duplicates_within_one_enqueue_many_collapse_to_one_task() -> None:
    existing = tasks.deduplicated_add.enqueue(9)
    answers = tasks.deduplicated_add.enqueue_many([(1, 2), {"a": 1, "b": 2}, (3, 4), (9,), (1, 2)])

    assert [answer.deduplicated for answer in answers] == [False, True, False, True, True]
    assert answers[0].id == answers[1].id == answers[4].id
    assert answers[3].id == existing.id
    assert models.Task.objects.count() == 3


def test_unique_calls_within_one_enqueue_many_collapse_too() -> None:
    answers = tasks.unique_add.enqueue_many([(1, 2), (1, 2), (2, 2)])
    assert [answer.deduplicated for answer in answers] == [False, True, False]
    assert models.Task.objects.count() == 2


@pytest.mark.django_db(transaction=True)  # aenqueue writes from another thread
def test_aenqueue_deduplicates() -> None:
    async def twice() -> tuple[Any, Any]:
        try:
            return (
                await tasks.deduplicated_add.aenqueue(4, 4),
                await tasks.deduplicated_add.aenqueue(4, 4),
            )
        finally:
            await sync_to_async(connections.close_all)()  # the executor thread's connection

    first, again = asyncio.run(twice())
    assert again.id == first.id and again.deduplicated


def test_using_turns_dedup_off_on_or_changes_it_for_one_enqueue() -> None:
    tasks.deduplicated_add.enqueue(1)
    assert not tasks.deduplicated_add.using(dedup=False).enqueue(1).deduplicated

    by_input = tasks.add.using(dedup=Dedup.by_input(ttl=60))
    assert by_input.enqueue(1, 1).id == by_input.enqueue(1, 1).id

    by_a = tasks.add.using(dedup=Dedup.by_fields(["a"], ttl=60))
    assert by_a.enqueue(2, 1).id == by_a.enqueue(2, 5).id

    unique = tasks.add.using(unique=True)
    assert unique.enqueue(3, 3).id == unique.enqueue(3, 3).id
    assert not tasks.unique_add.using(unique=False).enqueue(3, 3).deduplicated


def test_using_validates_dedup_options_like_the_decorator() -> None:
    with pytest.raises(InvalidTaskOptions, match="dedup"):
        tasks.add.using(dedup=Dedup.by_fields(["user_id"], ttl=60))
    with pytest.raises(InvalidTaskOptions, match="unique"):
        tasks.add.using(unique="yes")  # type: ignore[arg-type]
    with pytest.raises(InvalidTaskOptions, match="dedup"):
        tasks.unique_add.using(dedup=Dedup.by_input(ttl=60))


def test_a_rolled_back_enqueue_leaves_neither_task_nor_key() -> None:
    def enqueue_then_fail() -> None:
        with transaction.atomic():
            tasks.deduplicated_add.enqueue(1, 2)
            raise RuntimeError("the caller's transaction fails")

    with pytest.raises(RuntimeError):
        enqueue_then_fail()
    assert not models.Task.objects.exists() and not models.DedupKey.objects.exists()
    assert not tasks.deduplicated_add.enqueue(1, 2).deduplicated


def test_duplicates_inside_the_callers_transaction_leave_it_usable() -> None:
    with transaction.atomic():
        assert tasks.deduplicated_add.enqueue(6).id == tasks.deduplicated_add.enqueue(6).id
        assert tasks.unique_add.enqueue(6, 6).id == tasks.unique_add.enqueue(6, 6).id
        assert models.Task.objects.count() == 2  # the transaction still works


def test_a_failed_task_insert_leaves_no_key_behind(monkeypatch: pytest.MonkeyPatch) -> None:
    from django_taskflow.db import postgres as postgres_dialect

    def broken(*args: object, **kwargs: object) -> None:
        raise DatabaseError("disk full")

    for dialect in (sqlite_dialect, postgres_dialect):
        monkeypatch.setattr(dialect, "insert_tasks", broken)
    with pytest.raises(DatabaseError, match="disk full"):
        tasks.deduplicated_add.enqueue(1, 2)
    assert not models.DedupKey.objects.exists()


def test_bad_arguments_are_refused_before_any_key_is_taken() -> None:
    with pytest.raises(UnserializablePayload):
        tasks.deduplicated_by_user.enqueue(1, note="lone \udcff surrogate")
    with pytest.raises(UnserializablePayload):
        tasks.deduplicated_by_user.enqueue(1, note="nul \x00")
    with pytest.raises(PayloadTooLarge):
        tasks.deduplicated_by_user.enqueue(1, note="x" * 2_000_000)
    assert not models.DedupKey.objects.exists()


def test_awkward_but_storable_values_make_stable_keys() -> None:
    awkward = {"z": "é", "a": ["😀", 10**300, -0.0, None], "\u2028": {"nested": True}}
    first = tasks.deduplicated_by_user.enqueue(awkward)
    reordered = dict(reversed(list(awkward.items())))
    assert tasks.deduplicated_by_user.enqueue(reordered).id == first.id


def test_debounce_merges_calls_into_the_waiting_task_with_the_last_arguments() -> None:
    start = timezone.now()
    first = enqueue_at(start, tasks.debounced_record, 1, "a", "/dev/null")
    second = enqueue_at(start + timedelta(seconds=1), tasks.debounced_record, 1, "b", "/dev/null")
    other_user = enqueue_at(
        start + timedelta(seconds=1), tasks.debounced_record, 2, "x", "/dev/null"
    )

    assert second.id == first.id and second.deduplicated
    assert not other_user.deduplicated
    row = models.Task.objects.get(pk=first.id)
    assert row.args == [1, "b", "/dev/null"]
    assert row.run_after == start + timedelta(seconds=3)  # 2 s after the last call


def test_a_burst_of_identical_calls_debounced_by_input_runs_once_after_the_last() -> None:
    reindex = tasks.deduplicated_add.using(
        dedup=Dedup.by_input(ttl=timedelta(minutes=1), debounce=timedelta(seconds=2))
    )
    start = timezone.now()
    calls = [enqueue_at(start + timedelta(seconds=n), reindex, 7) for n in range(3)]

    assert len({call.id for call in calls}) == 1
    assert [call.deduplicated for call in calls] == [False, True, True]
    assert models.Task.objects.get().run_after == start + timedelta(seconds=4)


def test_a_burst_that_never_pauses_runs_at_the_latest_ttl_after_its_first_call() -> None:
    start = timezone.now()
    first = enqueue_at(start, tasks.debounced_record, 1, "a", "/dev/null")
    late = start + timedelta(minutes=4, seconds=59)
    enqueue_at(late, tasks.debounced_record, 1, "z", "/dev/null")

    assert models.Task.objects.get(pk=first.id).run_after == start + timedelta(minutes=5)


def test_a_call_after_the_debounced_task_started_makes_a_new_task() -> None:
    start = timezone.now()
    first = enqueue_at(start, tasks.debounced_record, 1, "a", "/dev/null")
    models.Task.objects.filter(pk=first.id).update(run_after=start)
    claim_for("w")

    after = enqueue_at(start + timedelta(seconds=1), tasks.debounced_record, 1, "b", "/dev/null")

    assert not after.deduplicated and after.id != first.id
    assert models.Task.objects.get(pk=first.id).args == [1, "a", "/dev/null"]
    assert str(models.DedupKey.objects.get().task_id) == after.id


def test_debounce_within_one_enqueue_many_keeps_the_last_call() -> None:
    answers = tasks.debounced_record.enqueue_many(
        [(1, "a", "/dev/null"), (1, "b", "/dev/null"), (2, "c", "/dev/null")]
    )
    assert [answer.deduplicated for answer in answers] == [True, False, False]
    assert answers[0].id == answers[1].id
    assert models.Task.objects.get(pk=answers[0].id).args == [1, "b", "/dev/null"]


def test_expired_keys_can_be_listed_and_deleted() -> None:
    start = timezone.now()
    enqueue_at(start, tasks.deduplicated_add, 1)
    assert not models.DedupKey.objects.expired(start + timedelta(minutes=4)).exists()
    assert models.DedupKey.objects.expired(start + timedelta(minutes=5)).delete()[0] == 1
