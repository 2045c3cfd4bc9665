"""The event stream under concurrent commits, and what reading one task costs.

Ids are drawn when event rows are inserted but seen when their transaction
commits. These tests commit a transaction that drew low ids after one that
drew higher ids, with two real connections, as two workers' recorders do.
"""

from __future__ import annotations

import json
import random
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.db import OperationalError, connection, connections, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from django_taskflow import events, models
from django_taskflow.db import dialect_for
from django_taskflow.models import EventKind
from django_taskflow.monitor import Running, Succeeded, monitor
from django_taskflow.testing import run_tasks
from tests import tasks

SLOW_COUNT = 300  # more than a stream reads in one page
QUICK_COUNT = 5


def write_events(task_id: str, kinds: list[str]) -> None:
    """Insert events as the worker's recorder does; ``progress`` carries the step number."""
    now = connection.ops.adapt_datetimefield_value(timezone.now())
    db_id = models.Task._meta.pk.get_db_prep_value(task_id, connection)
    rows = [
        (db_id, kind, 1, now, json.dumps({"progress": 0.5, "detail": {"step": step}}), False)
        for step, kind in enumerate(kinds)
    ]
    with transaction.atomic(), connection.cursor() as cursor:
        dialect_for("default").record(
            cursor,
            task_table=models.Task._meta.db_table,
            attempt_table=models.Attempt._meta.db_table,
            event_table=models.Event._meta.db_table,
            worker_id="writer",
            completions=[],
            events=rows,
        )


class HeldTransaction:
    """Writes events in a thread of its own and keeps the transaction open until released."""

    def __init__(self, write: Callable[[], None]) -> None:
        self.write = write
        self.written = threading.Event()
        self.release = threading.Event()
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run)

    def _run(self) -> None:
        try:
            with transaction.atomic():
                self.write()
                self.written.set()
                assert self.release.wait(30)
        except BaseException as exc:
            self.error = exc
        finally:
            self.written.set()
            connections.close_all()

    def __enter__(self) -> HeldTransaction:
        self.thread.start()
        assert self.written.wait(30)
        assert self.error is None, self.error
        return self

    def commit(self) -> None:
        self.release.set()
        self.thread.join(30)
        assert self.error is None, self.error

    def __exit__(self, *exc_info: object) -> None:
        self.release.set()
        self.thread.join(30)


def latest_event_id() -> int:
    latest = models.Event.objects.order_by("-id").first()
    return latest.pk if latest else 0


def take(stream: Iterator[events.TaskEvent], count: int) -> list[events.TaskEvent]:
    return [next(stream) for _ in range(count)]


def steps(seen: list[events.TaskEvent], task_id: str) -> list[int]:
    return [e.data["detail"]["step"] for e in seen if e.task_id == task_id]


def require(vendor: str) -> None:
    if connection.vendor != vendor:
        pytest.skip(f"needs {vendor}")


@pytest.mark.django_db(transaction=True)
def test_stream_sees_events_committed_after_later_ones_exactly_once_in_order() -> None:
    require("postgresql")
    slow, quick = tasks.noop.enqueue().id, tasks.noop.enqueue().id
    stream = iter(events.stream(after=latest_event_id(), timeout=30))
    with HeldTransaction(lambda: write_events(slow, ["progress"] * SLOW_COUNT)) as held:
        write_events(quick, ["progress"] * QUICK_COUNT)  # higher ids, committed first
        seen = take(stream, QUICK_COUNT)
        held.commit()
        seen += take(stream, SLOW_COUNT)
    write_events(quick, ["cancelled"])  # a marker: nothing else may come before it
    assert next(stream).kind == "cancelled"
    assert len({e.id for e in seen}) == SLOW_COUNT + QUICK_COUNT
    assert max(e.id for e in seen if e.task_id == slow) < min(
        e.id for e in seen if e.task_id == quick
    )
    assert steps(seen, quick) == list(range(QUICK_COUNT))
    assert steps(seen, slow) == list(range(SLOW_COUNT))


@pytest.mark.django_db(transaction=True)
def test_task_stream_sees_a_late_commit_of_its_own_task_once() -> None:
    """Two transactions can write one task's events: a recovery and the slot it recovered."""
    require("postgresql")
    task_id = tasks.noop.enqueue().id
    stream = iter(events.stream(task=task_id, after=0, timeout=30))
    with HeldTransaction(lambda: write_events(task_id, ["progress"] * SLOW_COUNT)) as held:
        write_events(task_id, ["retrying"])
        assert next(stream).kind == "retrying"
        held.commit()
        seen = take(stream, SLOW_COUNT)
    write_events(task_id, ["cancelled"])
    assert next(stream).kind == "cancelled"
    assert steps(seen, task_id) == list(range(SLOW_COUNT))


@pytest.mark.django_db(transaction=True)
def test_monitor_sees_a_final_event_that_commits_late() -> None:
    require("postgresql")
    task_id = tasks.noop.enqueue().id
    states = monitor(task_id, timeout=30)
    next(states)  # Queued
    kinds = ["progress"] * SLOW_COUNT + ["succeeded"]
    with HeldTransaction(lambda: write_events(task_id, kinds)) as held:
        write_events(task_id, ["started"])
        assert isinstance(next(states), Running)
        held.commit()
        rest = list(states)
    assert len(rest) == SLOW_COUNT + 1
    assert isinstance(rest[-1], Succeeded)


@pytest.mark.django_db(transaction=True)
def test_a_task_keeps_its_order_when_its_transaction_commits_during_a_read() -> None:
    """One transaction holds a task's ``started`` below the stream's position
    and its ``succeeded`` above; it commits between the stream's queries."""
    require("postgresql")
    task_id, other = tasks.noop.enqueue().id, tasks.noop.enqueue().id
    below, go_on, above, commit = (threading.Event() for _ in range(4))

    def write() -> None:
        try:
            with transaction.atomic():
                write_events(task_id, ["started"])
                below.set()
                assert go_on.wait(30)
                write_events(task_id, ["succeeded"])
                above.set()
                assert commit.wait(30)
        finally:
            connections.close_all()

    stream = iter(events.stream(after=latest_event_id(), timeout=30))
    writer = threading.Thread(target=write)
    writer.start()
    assert below.wait(30)
    write_events(other, ["started"])  # committed, with an id between the two
    assert next(stream).task_id == other
    go_on.set()
    assert above.wait(30)

    def commit_after_first_read(execute: Any, sql: str, *args: Any) -> Any:
        result = execute(sql, *args)
        if not commit.is_set() and "pg_current_snapshot" not in sql:
            commit.set()
            writer.join(30)
        return result

    with connection.execute_wrapper(commit_after_first_read):
        assert [next(stream).kind, next(stream).kind] == ["started", "succeeded"]


def statements_of(write: Callable[[], object]) -> list[str]:
    with CaptureQueriesContext(connection) as queries:
        write()
    return [query["sql"] for query in queries.captured_queries]


def statements_with_params(write: Callable[[], object]) -> list[tuple[str, Any]]:
    statements: list[tuple[str, Any]] = []

    def capture(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        statements.append((sql, params))
        return execute(sql, params, many, context)

    with connection.execute_wrapper(capture):
        write()
    return statements


def plan_nodes(node: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield node
    for child in node.get("Plans", []):
        yield from plan_nodes(child)


@pytest.mark.django_db
def test_event_writers_take_their_transaction_id_before_drawing_event_ids() -> None:
    """Rule 1 of ``stream_cursor``, for both ways events are written."""
    require("postgresql")
    task_id = tasks.noop.enqueue().id
    task = models.Task.objects.get(pk=task_id)
    # The recorder's one statement: its event rows are joined with the
    # transaction id and sorted before the INSERT above them draws their ids.
    [(sql, params)] = [
        (sql, params)
        for sql, params in statements_with_params(lambda: write_events(task_id, ["started"]))
        if models.Event._meta.db_table in sql
    ]
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (VERBOSE, FORMAT JSON) {sql}", params)
        [[plan]] = cursor.fetchone()
    [drawing] = [
        node
        for node in plan_nodes(plan["Plan"])
        if "nextval('django_taskflow_event_id_seq'" in " ".join(node.get("Output", []))
    ]
    below = [node.get("CTE Name") for node in plan_nodes(drawing)]
    assert "xid" in below
    [xid_cte] = [node for node in plan_nodes(plan["Plan"]) if node.get("Subplan Name") == "CTE xid"]
    assert xid_cte["Output"] == ["pg_current_xact_id()"]
    single = statements_of(lambda: events.record_event(task, EventKind.PROGRESS))
    [take_id] = [i for i, sql in enumerate(single) if "pg_current_xact_id" in sql]
    [insert] = [i for i, sql in enumerate(single) if sql.startswith("INSERT")]
    assert take_id < insert


@pytest.mark.django_db(transaction=True)
def test_sqlite_writers_are_serialised_so_commits_come_in_id_order() -> None:
    """While one transaction holds events, no other can draw an id and commit first."""
    require("sqlite")
    slow, quick = tasks.noop.enqueue().id, tasks.noop.enqueue().id
    stream = iter(events.stream(after=latest_event_id(), timeout=30))
    with HeldTransaction(lambda: write_events(slow, ["progress"] * SLOW_COUNT)) as held:
        with connection.cursor() as cursor:
            cursor.execute("PRAGMA busy_timeout = 0")
        try:
            with pytest.raises(OperationalError, match="locked"):
                write_events(quick, ["progress"] * QUICK_COUNT)
        finally:
            with connection.cursor() as cursor:
                cursor.execute("PRAGMA busy_timeout = 30000")
        held.commit()
    write_events(quick, ["progress"] * QUICK_COUNT)
    seen = take(stream, SLOW_COUNT + QUICK_COUNT)
    assert [e.task_id for e in seen] == [slow] * SLOW_COUNT + [quick] * QUICK_COUNT
    assert [e.id for e in seen] == sorted({e.id for e in seen})


def add_other_events(count: int) -> None:
    other = models.Task.objects.get(pk=tasks.noop.enqueue().id)
    models.Event.objects.bulk_create(
        models.Event(task=other, kind="progress", attempt=1) for _ in range(count)
    )


def monitor_queries(task_id: str) -> tuple[list[Any], int]:
    with CaptureQueriesContext(connection) as queries:
        states = list(monitor(task_id, timeout=5))
    return states, len(queries)


def finished_task_after(history: int) -> str:
    """A finished task whose events come after ``history`` events of other tasks."""
    add_other_events(history)
    result = tasks.add.enqueue(1, 1)
    run_tasks()
    return result.id


@pytest.mark.django_db
def test_monitor_cost_does_not_grow_with_the_event_log() -> None:
    small_states, small = monitor_queries(finished_task_after(10))
    large_states, large = monitor_queries(finished_task_after(5_000))
    assert small_states == large_states
    assert isinstance(large_states[-1], Succeeded)
    assert small == large


@pytest.mark.django_db
def test_task_stream_reads_through_the_task_index() -> None:
    require("postgresql")
    task_id = finished_task_after(5_000)
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {models.Event._meta.db_table}")
    with CaptureQueriesContext(connection) as queries:
        list(events.stream(task=task_id, after=0, follow=False))
    [read, *_] = [q["sql"] for q in queries.captured_queries if "task_id" in q["sql"]]
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN {read}")
        plan = "\n".join(row[0] for row in cursor.fetchall())
    # The (task, id) index, the only one on the task column: the task's
    # events come in id order, with no sort and no scan of other tasks'.
    table = models.Event._meta.db_table
    assert f"Seq Scan on {table}" not in plan
    assert f"using taskflow_event_task_idx on {table}" in plan
    assert "Index Cond: ((task_id = " in plan or f"Index Cond: (({table}.task_id = " in plan


class RolledBack(Exception):
    """Raised to roll a writer's transaction back."""


@pytest.mark.django_db(transaction=True)
def test_stream_sees_each_commit_once_among_many_concurrent_writers() -> None:
    """Writers draw ids together, then commit in a shuffled order; some roll back."""
    require("postgresql")
    writers, rounds = 4, 12
    task_ids = [tasks.noop.enqueue().id for _ in range(writers)]
    marker_task = tasks.noop.enqueue().id
    stream = iter(events.stream(after=latest_event_id(), timeout=60))
    shuffle = random.Random(7)
    orders = [shuffle.sample(range(writers), writers) for _ in range(rounds)]
    sizes = [[shuffle.randint(1, 250) for _ in range(writers)] for _ in range(rounds)]
    rolled_back = {(r, w) for r in range(rounds) for w in range(writers) if shuffle.random() < 0.2}
    inserted = threading.Barrier(writers)
    turns = [[threading.Event() for _ in range(writers)] for _ in range(rounds)]
    errors: list[BaseException] = []

    def write(writer: int) -> None:
        try:
            for round_number in range(rounds):
                turn = orders[round_number].index(writer)
                try:
                    with transaction.atomic():
                        size = sizes[round_number][writer]
                        write_events(task_ids[writer], ["progress"] * size)
                        inserted.wait(30)
                        if turn:
                            assert turns[round_number][turn - 1].wait(30)
                        if (round_number, writer) in rolled_back:
                            raise RolledBack
                except RolledBack:
                    pass
                turns[round_number][turn].set()
        except BaseException as exc:
            errors.append(exc)
            inserted.abort()
        finally:
            connections.close_all()

    def write_all_then_marker() -> None:
        threads = [threading.Thread(target=write, args=(w,)) for w in range(writers)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        write_events(marker_task, ["cancelled"])
        connections.close_all()

    conductor = threading.Thread(target=write_all_then_marker)
    conductor.start()
    seen = []
    for event in stream:
        if event.task_id == marker_task:
            break
        seen.append(event)
    conductor.join(60)
    assert not errors, errors
    committed = models.Event.objects.filter(task_id__in=task_ids).values_list("pk", flat=True)
    assert sorted(e.id for e in seen) == sorted(committed)
    assert len(seen) == sum(
        sizes[r][w] for r in range(rounds) for w in range(writers) if (r, w) not in rolled_back
    )
    for task_id in task_ids:
        mine = [e.id for e in seen if e.task_id == task_id]
        assert mine == sorted(mine)
