"""The gated claim: caps counted from running rows, rate windows, strategies, turns."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.db import connection
from django.db.models import F
from django.utils import timezone

from django_taskflow import Concurrency, Dedup, InvalidTaskOptions, claim, models
from django_taskflow.claim import GatedClaim, claim_gated
from django_taskflow.states import Status
from tests import limited_tasks, tasks
from tests.conftest import claim_for

pytestmark = pytest.mark.django_db


def look(worker_id: str = "W", after: str = "") -> GatedClaim:
    return claim_gated(
        database="default",
        worker_id=worker_id,
        queues=["default"],
        lease_seconds=30,
        now=timezone.now(),
        after=after,
    )


def take(worker_id: str = "W") -> Any:
    return look(worker_id).task


def finish(task: Any) -> None:
    models.Task.objects.filter(pk=task.id).update(status=Status.SUCCEEDED, worker_id=None)


def test_enqueue_stores_the_gate_and_leaves_other_rows_without_one(tmp_path: Path) -> None:
    capped = limited_tasks.one_per_tenant.enqueue(str(tmp_path), "acme", 0)
    plain = tasks.add.enqueue(1, 2)
    row = models.Task.objects.get(pk=capped.id)
    path = limited_tasks.one_per_tenant.module_path
    assert (row.gate_key, row.concurrency_key, row.concurrency_limit) == (
        f"{path}[acme]",
        f"{path}[acme]",
        1,
    )
    assert (row.concurrency_strategy, row.rate_key) == ("fifo", None)
    plain_row = models.Task.objects.get(pk=plain.id)
    assert (plain_row.gate_key, plain_row.concurrency_key, plain_row.rate_key) == (None,) * 3


def test_the_plain_claim_never_takes_a_gated_task(tmp_path: Path) -> None:
    limited_tasks.capped.enqueue_many([(str(tmp_path), 0)] * 3)
    plain = tasks.add.enqueue(1, 2)
    assert [str(task.id) for task in claim_for("W", limit=10)] == [str(plain.id)]
    assert claim_for("W", limit=10) == []


def test_a_cap_counts_the_running_tasks_of_its_group(tmp_path: Path) -> None:
    limited_tasks.capped.enqueue_many([(str(tmp_path), 0)] * 4)
    first, second = take("A"), take("B")
    assert first and second and first.gated
    found = look("C")
    assert (found.task, found.waiting) == (None, True)
    finish(first)
    third = take("C")
    assert third is not None
    assert take("D") is None
    # A running task handed back, or recovered from a dead worker, frees its slot.
    models.Task.objects.filter(pk=second.id).update(
        status=Status.QUEUED, worker_id=None, attempts=F("attempts") - 1
    )
    assert take("D") is not None


def test_each_key_is_a_group_of_its_own(tmp_path: Path) -> None:
    limited_tasks.one_per_tenant.enqueue_many(
        [(str(tmp_path), tenant, 0) for tenant in ("a", "a", "b", "b")]
    )
    taken = [take(), take(), take()]
    assert taken[2] is None
    assert sorted(task.args[1] for task in taken[:2]) == ["a", "b"]


def test_a_group_is_claimed_under_the_limits_of_its_next_task(tmp_path: Path) -> None:
    limited_tasks.capped.enqueue(str(tmp_path), 0)
    limited_tasks.capped.using(concurrency=Concurrency(1)).enqueue(str(tmp_path), 0)
    limited_tasks.capped.using(concurrency=Concurrency(3)).enqueue(str(tmp_path), 0)
    # The first is next: 0 of 2 running. Then the second: 1 of 1, so none
    # starts, though the third would allow 3.
    assert take() is not None
    assert take() is None


@pytest.mark.parametrize(
    ("strategy", "expected"),
    [("fifo", [0, 1, 2, 3]), ("lifo", [3, 2, 1, 0]), ("priority", [2, 3, 0, 1])],
)
def test_the_strategy_picks_the_next_task_of_a_group(
    strategy: str, expected: list[int], tmp_path: Path
) -> None:
    definition = limited_tasks.serial.using(concurrency=Concurrency(1, strategy=strategy))  # type: ignore[arg-type]
    for number in range(4):
        definition.using(priority=10 if number >= 2 else 0).enqueue(str(tmp_path), number)
    order = []
    for _ in range(4):
        task = take()
        order.append(task.args[1])
        finish(task)
    assert order == expected


def test_the_random_strategy_takes_every_task_in_time(tmp_path: Path) -> None:
    definition = limited_tasks.serial.using(concurrency=Concurrency(1, strategy="random"))
    definition.enqueue_many([(str(tmp_path), number) for number in range(6)])
    numbers = []
    for _ in range(6):
        task = take()
        numbers.append(task.args[1])
        finish(task)
    assert sorted(numbers) == list(range(6))


def test_a_rate_limit_counts_starts_in_the_window_and_says_when_it_opens(
    tmp_path: Path,
) -> None:
    limited_tasks.rate_limited.enqueue_many([(str(tmp_path), n) for n in range(5)])
    started = [take() for _ in range(3)]
    assert all(started)
    for task in started:
        finish(task)  # finished tasks still count: the limit is on starts
    before = timezone.now()
    found = look()
    assert found.task is None and found.waiting
    assert found.opens_at is not None
    assert before < found.opens_at <= before + timedelta(seconds=2)
    # Once the window has passed the starts, two more may start, then one more.
    models.RateStart.objects.update(started_at=F("started_at") - timedelta(seconds=3))
    assert take() is not None
    assert take() is not None
    # The starts that left the window were deleted as the group claimed again.
    assert models.RateStart.objects.count() == 2


def test_a_task_with_both_limits_waits_for_both(tmp_path: Path) -> None:
    limited_tasks.capped_and_rate_limited.enqueue_many([(str(tmp_path), "acct")] * 4)
    first = take()
    assert take() is None  # the cap (1)
    finish(first)
    assert take() is not None
    models.Task.objects.filter(status=Status.RUNNING).update(status=Status.SUCCEEDED)
    assert take() is None  # the rate (2 per 2 s)


def test_the_gates_of_a_task_are_served_in_turn(tmp_path: Path) -> None:
    limited_tasks.tenant_work.enqueue_many([(str(tmp_path), "a-flood", 0)] * 20)
    limited_tasks.tenant_work.enqueue_many([(str(tmp_path), "b-few", 0)] * 2)
    cursor = ""
    tenants = []
    for _ in range(4):
        found = look(after=cursor)
        cursor = found.cursor
        tenants.append(found.task.args[1])
    assert tenants == ["a-flood", "b-few", "a-flood", "b-few"]


def test_only_the_queues_and_backend_asked_for_are_claimed(tmp_path: Path) -> None:
    limited_tasks.capped.enqueue(str(tmp_path), 0)
    found = claim_gated(
        database="default",
        worker_id="W",
        queues=["other"],
        lease_seconds=30,
        now=timezone.now(),
    )
    assert (found.task, found.waiting) == (None, False)
    future = timezone.now() - timedelta(minutes=1)
    found = claim_gated(database="default", worker_id="W", queues=[], lease_seconds=30, now=future)
    assert found.task is None  # not ready yet at that instant
    assert take() is not None


def test_a_bad_key_refuses_the_whole_enqueue(tmp_path: Path) -> None:
    definition = limited_tasks.one_per_tenant.using(
        concurrency=Concurrency(1, key=lambda tenant, **_: tenant if tenant == "ok" else object())
    )
    with pytest.raises(InvalidTaskOptions, match="concurrency key must be a string"):
        definition.enqueue_many([(str(tmp_path), "ok", 0), (str(tmp_path), "bad", 0)])
    assert not models.Task.objects.exists()


def test_the_cursor_moves_past_gates_with_nothing_ready(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(claim, "GATES_PER_LOOK", 2)
    later = timezone.now() + timedelta(hours=1)
    for tenant in ("a", "b", "c"):
        limited_tasks.tenant_work.using(run_after=later).enqueue(str(tmp_path), tenant, 0)
    limited_tasks.tenant_work.enqueue(str(tmp_path), "d", 0)
    cursor, found = "", []
    for _ in range(3):
        looked = look(after=cursor)
        cursor = looked.cursor
        found.append(looked.task.args[1] if looked.task else None)
    # Each look reads two gates: a and b (waiting), then c and d.
    assert found[:2] == [None, "d"]


@pytest.mark.skipif(connection.vendor != "sqlite", reason="the plan of SQLite's gated claim")
def test_sqlite_gated_claim_reads_the_gate_indexes_on_a_never_analysed_database(
    tmp_path: Path,
) -> None:
    # Left to itself, the planner walked every queued row through the status
    # index for each look: 50 ms with 20,000 queued.
    tasks.add.enqueue_many([(n, n) for n in range(300)])
    limited_tasks.capped.enqueue_many([(str(tmp_path), 0)] * 3)
    statements: list[tuple[str, Any]] = []

    def capture(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        statements.append((sql, params))
        return execute(sql, params, many, context)

    with connection.execute_wrapper(capture):
        assert take() is not None
    gated = [(sql, params) for sql, params in statements if "gate_key" in sql]
    assert len(gated) == 2  # the look, the claim
    plans = []
    with connection.cursor() as cursor:
        for sql, params in gated:
            cursor.execute(f"EXPLAIN QUERY PLAN {sql}", params)
            plans.append(" | ".join(str(row[-1]) for row in cursor.fetchall()))
    assert "status_idx" not in " ".join(plans)
    assert all("taskflow_task_gate_idx" in plan for plan in plans)
    assert all("taskflow_task_group_running" in plan for plan in plans)


def test_the_gated_claim_leaves_paused_queues_and_serves_the_others(tmp_path: Path) -> None:
    capped = limited_tasks.capped.enqueue(str(tmp_path), 0)
    elsewhere = limited_tasks.capped.using(queue_name="emails").enqueue(str(tmp_path), 0)

    def take_from(**lanes: Any) -> Any:
        return claim_gated(
            database="default", worker_id="W", lease_seconds=30, now=timezone.now(), **lanes
        ).task

    # Every queue served but the paused "default".
    assert str(take_from(queues=[], excluded=["default"]).id) == elsewhere.id
    assert take_from(queues=[], excluded=["default"]) is None
    assert str(take_from(queues=["default"]).id) == capped.id


def test_the_gated_claim_takes_a_task_that_requires_capabilities_only_where_offered(
    tmp_path: Path,
) -> None:
    needs_gpu = limited_tasks.capped.using(requires={"gpu"}).enqueue(str(tmp_path), 0)

    def take_offering(*capabilities: str) -> Any:
        return claim_gated(
            database="default",
            worker_id="W",
            queues=["default"],
            capabilities=frozenset(capabilities),
            lease_seconds=30,
            now=timezone.now(),
        ).task

    assert take_offering() is None
    assert take_offering("eu-west") is None
    assert str(take_offering("gpu", "eu-west").id) == needs_gpu.id


@pytest.mark.parametrize(
    "options",
    [{"unique": True}, {"dedup": Dedup.by_input(ttl=60)}],
    ids=["unique", "dedup"],
)
def test_a_limited_task_that_is_also_deduplicated_keeps_its_gate(
    tmp_path: Path, options: dict[str, Any]
) -> None:
    result = limited_tasks.capped.using(**options).enqueue(str(tmp_path), 0)
    row = models.Task.objects.get(pk=result.id)
    assert (row.gate_key, row.concurrency_limit) == (limited_tasks.capped.module_path, 2)
    assert claim_for("W", limit=10) == []  # the plain claim leaves it to the gated one


def take_from_emails(worker_id: str, limit: int) -> Any:
    return claim_gated(
        database="default",
        worker_id=worker_id,
        queues=["default", "emails"],
        lease_seconds=30,
        now=timezone.now(),
        queue_limits={"emails": limit},
    ).task


def test_a_queue_limit_holds_for_gated_tasks_and_counts_plain_ones(tmp_path: Path) -> None:
    emails = limited_tasks.tenant_work.using(queue_name="emails")
    emails.enqueue_many([(str(tmp_path), tenant, 0) for tenant in "abcd"])
    plain = tasks.add.using(queue_name="emails").enqueue(1, 2)
    first = take_from_emails("A", limit=2)
    assert first is not None and first.queue_name == "emails"
    # A plain task of the queue running: the queue is at its limit.
    taken = claim.claim_batch(
        database="default",
        worker_id="B",
        queues=["emails"],
        limit=5,
        lease_seconds=30,
        now=timezone.now(),
        queue_limit=2,
    )
    assert [str(task.id) for task in taken] == [str(plain.id)]
    assert take_from_emails("C", limit=2) is None
    assert take_from_emails("C", limit=3) is not None
    finish(first)
    assert take_from_emails("D", limit=3) is not None
    assert take_from_emails("E", limit=3) is None


def test_a_gate_in_an_unlimited_queue_is_claimed_beside_a_full_limited_one(
    tmp_path: Path,
) -> None:
    limited_tasks.tenant_work.using(queue_name="emails").enqueue(str(tmp_path), "a", 0)
    assert take_from_emails("A", limit=1) is not None
    limited_tasks.tenant_work.using(queue_name="emails").enqueue(str(tmp_path), "b", 0)
    other = limited_tasks.tenant_work.enqueue(str(tmp_path), "c", 0)
    taken = take_from_emails("B", limit=1)
    assert taken is not None and str(taken.id) == str(other.id)
    assert take_from_emails("C", limit=1) is None


@pytest.mark.skipif(connection.vendor != "postgresql", reason="JIT is PostgreSQL's")
def test_the_gates_look_is_planned_without_jit() -> None:
    # Its recursive query is estimated dear even over an empty gate index;
    # compiled with JIT it took 40-80 ms of every slot's look.
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as captured:
        assert look().task is None
    statements = [query["sql"] for query in captured.captured_queries]
    jit_off = statements.index("SET LOCAL jit = off")
    assert "WITH RECURSIVE gates" in statements[jit_off + 1]
