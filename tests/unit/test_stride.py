"""Stride scheduling across a worker's queues (pure: no database)."""

from __future__ import annotations

from collections import Counter

from django_taskflow.queues import (
    DEFAULT_QUEUE_WEIGHTS,
    EMPTY_RECHECK_SECONDS,
    Lane,
    StrideScheduler,
    plan_lanes,
)

FOUR = ["critical", "high", "default", "low"]


def drain(
    scheduler: StrideScheduler, lanes: list[Lane], claims: int, has_work: set[str] | None = None
) -> Counter[str]:
    """Claim ``claims`` times with a full batch of 50; lanes outside ``has_work`` give nothing."""
    taken: Counter[str] = Counter()
    now = 0.0
    for _ in range(claims):
        order = scheduler.order(lanes, now)
        for lane in order:
            name = lane.queues[0]
            count = scheduler.batch_for(lane, order, 50)
            if has_work is not None and name not in has_work:
                count = 0
            scheduler.claimed(lane, count, now)
            if count:
                taken[name] += count
                break
        now += 0.001
    return taken


def test_a_saturated_backlog_is_shared_by_weight_and_low_is_not_starved() -> None:
    lanes = plan_lanes(FOUR, weights=DEFAULT_QUEUE_WEIGHTS, limits={}, paused=frozenset())
    taken = drain(StrideScheduler(), lanes, 2_000)
    total = sum(taken.values())
    for name in FOUR:
        expected = DEFAULT_QUEUE_WEIGHTS[name] / sum(DEFAULT_QUEUE_WEIGHTS.values())
        assert abs(taken[name] / total / expected - 1) < 0.05, (name, taken)


def test_lighter_queues_claim_in_smaller_batches() -> None:
    lanes = plan_lanes(FOUR, weights=DEFAULT_QUEUE_WEIGHTS, limits={}, paused=frozenset())
    scheduler = StrideScheduler()
    sizes = {lane.queues[0]: scheduler.batch_for(lane, lanes, 50) for lane in lanes}
    assert sizes == {"critical": 50, "high": 5, "default": 1, "low": 1}
    # Alone, a light queue claims full batches.
    [low] = [lane for lane in lanes if lane.queues == ("low",)]
    assert scheduler.batch_for(low, [low], 50) == 50


def test_an_idle_queue_saves_up_no_credit() -> None:
    lanes = plan_lanes(["a", "b"], weights={}, limits={}, paused=frozenset())
    scheduler = StrideScheduler()
    # "b" is empty for a long while; "a" is claimed 100 times meanwhile.
    assert drain(scheduler, lanes, 100, has_work={"a"}) == Counter(a=5_000)
    scheduler.woke()
    taken = drain(scheduler, lanes, 100)
    # Back with work, "b" shares equally instead of catching up on its own.
    assert abs(taken["a"] - taken["b"]) <= 50


def test_an_empty_queue_is_skipped_until_the_slot_waits_or_a_while_passes() -> None:
    lanes = plan_lanes(["a", "b"], weights={}, limits={}, paused=frozenset())
    scheduler = StrideScheduler()
    [a, b] = lanes
    scheduler.claimed(b, 0, now=10.0)
    assert scheduler.order(lanes, 10.1) == [a]
    assert set(scheduler.order(lanes, 10.0 + EMPTY_RECHECK_SECONDS)) == {a, b}
    scheduler.claimed(b, 0, now=20.0)
    scheduler.woke()
    assert set(scheduler.order(lanes, 20.0)) == {a, b}


def test_lanes_leave_out_paused_queues_and_give_limited_queues_their_own() -> None:
    weights = {"emails": 5}
    assert plan_lanes(
        ["default", "emails"], weights=weights, limits={"emails": 2}, paused=frozenset({"default"})
    ) == [Lane(("emails",), limit=2, weight=5)]
    # A worker serving every queue: one lane for the unlimited rest.
    assert plan_lanes([], weights=weights, limits={"emails": 2}, paused=frozenset({"x"})) == [
        Lane((), excluded=("emails", "x")),
        Lane(("emails",), limit=2, weight=5),
    ]
    assert plan_lanes(["default"], weights={}, limits={}, paused=frozenset()) == [
        Lane(("default",))
    ]


def test_an_empty_heavy_queue_does_not_shrink_a_light_ones_batch() -> None:
    from types import SimpleNamespace

    from django_taskflow.conf import Options
    from django_taskflow.worker.queue_control import QueueControl

    control = QueueControl(options=Options(), backend="default", queues=["critical", "default"])
    asked: list[tuple[str, int]] = []

    def claim_from(lane: Lane, size: int) -> list[object]:
        asked.append((",".join(lane.queues), size))
        work = [SimpleNamespace(queue_name="default")] * size
        return work if "default" in lane.queues else []

    # After a wait, one claim looks at both queues; then each in turn, the
    # empty heavy one first, and the light one still gets a whole batch.
    assert len(control.claim(50, claim_from)) == 50  # type: ignore[arg-type]
    assert asked == [("critical,default", 50)]
    asked.clear()
    assert len(control.claim(50, claim_from)) == 50  # type: ignore[arg-type]
    assert asked == [("critical", 50), ("default", 50)]
    # The empty queue is skipped until the slot waits: one claim per batch.
    asked.clear()
    control.claim(50, claim_from)  # type: ignore[arg-type]
    assert asked == [("default", 50)]
    control.woke()
    asked.clear()
    control.claim(50, claim_from)  # type: ignore[arg-type]
    assert asked == [("critical,default", 50)]


def test_after_a_wait_an_empty_claim_of_every_queue_is_not_repeated_queue_by_queue() -> None:
    from django_taskflow.conf import Options
    from django_taskflow.worker.queue_control import QueueControl

    control = QueueControl(
        options=Options(), backend="default", queues=["critical", "default", "low"]
    )
    asked: list[tuple[str, ...]] = []

    def claim_from(lane: Lane, size: int) -> list[object]:
        asked.append(lane.queues)
        return []

    control.woke()
    assert control.claim(50, claim_from) == []  # type: ignore[arg-type]
    assert asked == [("critical", "default", "low")]  # not three more empty round trips


def test_after_a_wait_a_claim_short_of_a_batch_leaves_only_its_queues_to_try() -> None:
    from types import SimpleNamespace

    from django_taskflow.conf import Options
    from django_taskflow.worker.queue_control import QueueControl

    control = QueueControl(
        options=Options(), backend="default", queues=["critical", "default", "low"]
    )
    asked: list[tuple[str, ...]] = []

    def claim_from(lane: Lane, size: int) -> list[object]:
        asked.append(lane.queues)
        return [SimpleNamespace(queue_name="low")] * min(size, 3) if "low" in lane.queues else []

    control.woke()
    assert len(control.claim(50, claim_from)) == 3  # type: ignore[arg-type]
    asked.clear()
    control.claim(50, claim_from)  # type: ignore[arg-type]
    assert asked == [("low",)]  # critical and default were found empty


def test_after_a_wait_one_claim_looks_at_every_unlimited_queue_and_charges_each() -> None:
    from types import SimpleNamespace

    from django_taskflow.conf import Options
    from django_taskflow.worker.queue_control import QueueControl

    control = QueueControl(options=Options(), backend="default", queues=["critical", "low"])
    asked: list[tuple[str, ...]] = []

    def claim_from(lane: Lane, size: int) -> list[object]:
        asked.append(lane.queues)
        return [SimpleNamespace(queue_name="low")] if len(lane.queues) == 2 else []

    control.woke()
    assert len(control.claim(50, claim_from)) == 1  # type: ignore[arg-type]
    assert asked == [("critical", "low")]  # one round trip, not one per queue
    low = next(lane for lane in control.lanes if lane.queues == ("low",))
    assert control.scheduler.passes[low] == 1 / 0.1  # charged to its own queue
    asked.clear()
    control.claim(50, claim_from)  # type: ignore[arg-type]
    assert ("critical", "low") not in asked  # only right after a wait
