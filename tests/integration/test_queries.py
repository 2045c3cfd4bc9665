"""find_tasks(), status_counts() and history(): filters, order, laziness, indexes."""

from __future__ import annotations

from datetime import timedelta

import pytest
from asgiref.sync import async_to_sync
from django.db import connection
from django.db.models import Count
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

import django_taskflow
from django_taskflow import (
    AmbiguousTaskName,
    InvalidQuery,
    UnknownTask,
    find_tasks,
    history,
    status_counts,
)
from django_taskflow.queries import filter_tasks
from django_taskflow.states import Status
from django_taskflow.testing import run_tasks
from tests import tasks

pytestmark = pytest.mark.django_db


def ids(rows: object) -> list[str]:
    return [str(row.pk) for row in rows]  # type: ignore[attr-defined]


def test_find_tasks_is_lazy_and_newest_first() -> None:
    with CaptureQueriesContext(connection) as queries:
        found = find_tasks(name="tests.tasks.add")
    assert len(queries) == 0  # nothing read until used
    results = [tasks.add.enqueue(n, n) for n in range(3)]
    tasks.noop.enqueue()
    assert ids(found) == [r.id for r in reversed(results)]
    assert found.count() == 3
    assert ids(found[:1]) == [results[-1].id]


def test_a_function_name_matches_when_one_task_has_it() -> None:
    result = tasks.tagged_report.enqueue(1)
    assert ids(find_tasks(name="tagged_report")) == [result.id]
    assert ids(find_tasks(name="tests.tasks.tagged_report")) == [result.id]


def test_an_ambiguous_or_unknown_name_is_a_clear_error() -> None:
    # tests.tasks.add and testproject.demo.tasks.add share a function name.
    with pytest.raises(AmbiguousTaskName, match=r"tests\.tasks\.add"):
        find_tasks(name="add")
    with pytest.raises(UnknownTask, match="full path"):
        find_tasks(name="no_such_task")
    with pytest.raises(InvalidQuery, match="status"):
        find_tasks(status="done")
    with pytest.raises(InvalidQuery, match="since"):
        find_tasks(since="yesterday")  # type: ignore[arg-type]


def test_filters_by_tag_status_queue_and_time() -> None:
    report = tasks.tagged_report.enqueue(1)
    added = tasks.add.enqueue(1, 1)
    run_tasks(queues=["default"])  # runs add only
    assert ids(find_tasks(tag="reports")) == [report.id]
    assert ids(find_tasks(queue="reports")) == [report.id]
    assert ids(find_tasks(status="succeeded")) == [added.id]
    assert ids(find_tasks(status=["queued", "succeeded"])) == [added.id, report.id]
    assert ids(find_tasks(since=timedelta(minutes=1))) == [added.id, report.id]
    assert ids(find_tasks(until=timezone.now() - timedelta(minutes=1))) == []
    assert ids(find_tasks(since=timezone.now() + timedelta(minutes=1))) == []


def test_status_counts_counts_every_status() -> None:
    tasks.add.enqueue(1, 1)
    tasks.add.enqueue(2, 2)
    tasks.fail_always.enqueue()
    run_tasks()
    tasks.tagged_report.enqueue(3)
    counts = status_counts()
    assert counts == {
        "queued": 1,
        "running": 0,
        "succeeded": 2,
        "failed": 1,
        "cancelled": 0,
    }
    assert status_counts("tagged_report")["queued"] == 1
    assert sum(status_counts("tests.tasks.add").values()) == 2


def test_history_lists_duration_and_attempts_newest_first() -> None:
    first = tasks.fail_until_attempt.using(max_attempts=3).enqueue(2)
    second = tasks.fail_until_attempt.using(max_attempts=3).enqueue(1)
    while run_tasks(now=lambda: timezone.now() + timedelta(hours=1)):
        pass
    entries = history("fail_until_attempt")
    assert [e.task_id for e in entries] == [second.id, first.id]
    assert [e.attempts for e in entries] == [1, 2]
    assert all(e.status == Status.SUCCEEDED for e in entries)
    assert all(e.duration is not None and e.duration >= 0 for e in entries)
    assert [e.task_id for e in history("fail_until_attempt", limit=1)] == [second.id]
    with pytest.raises(InvalidQuery, match="limit"):
        history("fail_until_attempt", limit=0)


def test_async_twins_answer_the_same() -> None:
    result = tasks.tagged_report.enqueue(1)

    async def ask() -> tuple[list[str], dict[str, int], list[str]]:
        found = await django_taskflow.afind_tasks(tag="reports")
        rows = [str(row.pk) async for row in found]
        counts = await django_taskflow.astatus_counts("tagged_report")
        entries = await django_taskflow.ahistory("tagged_report")
        return rows, counts, [e.task_id for e in entries]

    rows, counts, entries = async_to_sync(ask)()
    assert rows == entries == [result.id]
    assert counts["queued"] == 1


QUERIES = {
    "name": lambda: find_tasks(name="tests.tasks.add")[:50],
    "status": lambda: find_tasks(status="failed")[:50],
    "queue": lambda: find_tasks(queue="reports")[:50],
    "tag": lambda: find_tasks(tag="reports")[:50],
    "since": lambda: find_tasks(since=timedelta(hours=1))[:50],
    "history": lambda: find_tasks(name="tests.tasks.add", status="succeeded")[:100],
    "status_counts by name": lambda: (
        filter_tasks(name="tests.tasks.add")
        .order_by()
        .values_list("status")
        .annotate(n=Count("pk"))
    ),
}


@pytest.mark.skipif("connection.vendor != 'postgresql'")
def test_each_query_reads_through_an_index() -> None:
    with connection.cursor() as cursor:
        # A history the size of a real one, as the planner sees it.
        cursor.execute(
            """
            INSERT INTO django_taskflow_task
                (id, task_path, backend, queue_name, priority, status, args, kwargs, tags,
                 attempts, lost_attempts, max_attempts, on_lost, retry_policy,
                 progress_detail, run_after, enqueued_at, cancelled_by, cancel_reason)
            SELECT gen_random_uuid(), 'tests.tasks.noop' || (n % 50), 'default', 'default', 0,
                   'succeeded', '[]', '{}', '[]', 1, 0, 1, 'requeue', '{}', '{}',
                   now(), now() - n * interval '1 second', '', ''
            FROM generate_series(1, 50000) AS n
            """
        )
        cursor.execute("ANALYZE django_taskflow_task")
        plans = {}
        for name, query in QUERIES.items():
            sql, params = query().query.sql_with_params()  # type: ignore[no-untyped-call]
            cursor.execute(f"EXPLAIN {sql}", params)
            plans[name] = "\n".join(row[0] for row in cursor.fetchall())
    unindexed = {name: plan for name, plan in plans.items() if "Seq Scan" in plan}
    assert not unindexed, unindexed
    assert all("Index" in plan for plan in plans.values()), plans
