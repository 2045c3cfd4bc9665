"""Concurrency caps and rate limits hold across real worker processes.

Each task logs its body's start and end instants. A body runs inside its
row's ``running`` time (claimed before it starts, its outcome written after
it ends), so overlapping bodies prove overlapping running rows.
"""

from __future__ import annotations

import os
import signal
import time
from collections import defaultdict
from pathlib import Path

import pytest
from django.db import connection

from django_taskflow import models, pause_queue, resume_queue, set_queue_limit
from django_taskflow.states import Status
from tests import limited_tasks
from tests.conftest import WorkerProcesses, wait_for

pytestmark = pytest.mark.processes

# 4 workers on PostgreSQL; SQLite has one writer, and 2 are plenty to contend.
WORKERS = 4 if connection.vendor == "postgresql" else 2


type Interval = tuple[float, float]


def intervals(log: Path) -> dict[str, list[Interval]]:
    """Group -> the (start, end) of each body, matched by process (one body at a time)."""
    open_starts: dict[str, float] = {}
    found: dict[str, list[Interval]] = defaultdict(list)
    for line in log.read_text().splitlines():
        kind, group, instant, pid = line.split()
        if kind == "start":
            open_starts[pid] = float(instant)
        else:
            found[group].append((open_starts.pop(pid), float(instant)))
    assert not open_starts, f"bodies that never ended: {open_starts}"
    return found


def most_at_once(spans: list[Interval]) -> int:
    """The largest number of spans open at one instant."""
    edges = sorted([(start, 1) for start, _ in spans] + [(end, -1) for _, end in spans])
    running = peak = 0
    for _, step in edges:  # at equal instants an end (-1) sorts before a start
        running += step
        peak = max(peak, running)
    return peak


def all_succeeded(results: list[object]) -> bool:
    ids = [result.id for result in results]  # type: ignore[attr-defined]
    return models.Task.objects.filter(pk__in=ids, status=Status.SUCCEEDED).count() == len(ids)


def start_workers(workers: WorkerProcesses, *args: str, **options: float) -> None:
    for _ in range(WORKERS):
        workers.start("--concurrency", "2", *args, **options)


def test_a_cap_is_never_exceeded_per_group_and_per_key(
    workers: WorkerProcesses, tmp_path: Path
) -> None:
    log = tmp_path / "bodies"
    results = limited_tasks.capped.enqueue_many([(str(log), 0.2)] * 12)
    results += limited_tasks.one_per_tenant.enqueue_many(
        [(str(log), tenant, 0.15) for tenant in "abc" for _ in range(4)]
    )
    start_workers(workers)

    wait_for(lambda: all_succeeded(results), timeout=120)
    found = intervals(log)
    assert len(found["all"]) == 12
    assert most_at_once(found["all"]) == 2  # the cap is reached, never passed
    for tenant in "abc":
        assert len(found[tenant]) == 4
        assert most_at_once(found[tenant]) == 1
    # Keys are groups of their own: tenants ran beside each other.
    assert most_at_once([span for tenant in "abc" for span in found[tenant]]) >= 2


def test_a_rate_limit_holds_in_every_sliding_window(
    workers: WorkerProcesses, tmp_path: Path
) -> None:
    log = tmp_path / "bodies"
    # RateLimit(3, per=2 s): nine starts need three windows.
    results = limited_tasks.rate_limited.enqueue_many([(str(log), n) for n in range(9)])
    start_workers(workers)

    wait_for(lambda: all_succeeded(results), timeout=120)
    starts = sorted(start for spans in intervals(log).values() for start, _ in spans)
    assert len(starts) == 9
    # A body starts a little after its claim, which the limit counts: the
    # window checked here is shorter by a margin for that delay.
    window = 2.0 - 0.5
    for first in starts:
        assert sum(1 for start in starts if first <= start < first + window) <= 3
    # Waiting work starts once the window allows, not at the next poll only.
    assert starts[6] - starts[0] >= 4.0 - 0.5
    assert starts[3] - starts[0] < 2.0 + 2.0


def test_one_tenants_flood_does_not_starve_another(
    workers: WorkerProcesses, tmp_path: Path
) -> None:
    log = tmp_path / "bodies"
    # The flood's key sorts first, and it was enqueued first.
    flood = limited_tasks.tenant_work.enqueue_many([(str(log), "aaa-flood", 0.05)] * 150)
    few = limited_tasks.tenant_work.enqueue_many([(str(log), "zzz-few", 0.05)] * 4)
    for _ in range(WORKERS):
        workers.start("--concurrency", "1")

    wait_for(lambda: all_succeeded(few + flood), timeout=180)
    found = intervals(log)
    flood_ends = sorted(end for _, end in found["aaa-flood"])
    few_last_end = max(end for _, end in found["zzz-few"])
    # Served in turn, the few were done long before the flood; served in
    # order, they would have waited for all of it.
    assert few_last_end < flood_ends[len(flood_ends) // 2]


def test_a_capped_tasks_slot_is_freed_after_its_worker_is_sigkilled(
    workers: WorkerProcesses, tmp_path: Path
) -> None:
    log = tmp_path / "bodies"
    blocker = limited_tasks.holds_the_slot.enqueue(str(log), 600.0)
    doomed = workers.start(lease_seconds=2)
    wait_for(lambda: log.exists() and log.read_text().count("start") == 1, timeout=60)
    waiting = limited_tasks.holds_the_slot.enqueue(str(log), 0.0)
    survivors = [workers.start(lease_seconds=2) for _ in range(WORKERS - 1)]
    for survivor in survivors:
        wait_for(lambda survivor=survivor: "slot 0 started" in workers.log(survivor), timeout=60)
    time.sleep(2)  # the survivors have looked more than once: the group is full
    assert models.Task.objects.get(pk=waiting.id).status == Status.QUEUED

    os.killpg(doomed.pid, signal.SIGKILL)
    doomed.wait(timeout=10)
    killed_at = time.time()

    # Its lease expires, a live worker recovers it, and the slot is free:
    # never held by a lock of the dead worker.
    wait_for(lambda: all_succeeded([blocker, waiting]), timeout=60)
    row = models.Task.objects.get(pk=blocker.id)
    assert (row.attempts, row.lost_attempts) == (2, 1)
    # Nothing else of the group started while the dead worker's task held it.
    later_starts = [line.split()[2] for line in log.read_text().splitlines()[1:]]
    assert len(later_starts) == 4  # the waiting task and the blocker's second attempt
    assert all(float(start) > killed_at for start in later_starts[::2])


def test_a_queue_limit_holds_for_capped_and_plain_tasks_together(
    workers: WorkerProcesses, tmp_path: Path
) -> None:
    log = tmp_path / "bodies"
    set_queue_limit("emails", 3)
    # The tenants' caps (10 each) never bind: only the queue's limit holds them.
    emails = limited_tasks.tenant_work.using(queue_name="emails")
    results = emails.enqueue_many([(str(log), tenant, 0.2) for tenant in "abcd" for _ in range(4)])
    results += limited_tasks.uncapped.using(queue_name="emails").enqueue_many([(str(log), 0.2)] * 8)
    start_workers(workers, "--queues", "emails")

    wait_for(lambda: all_succeeded(results), timeout=120)
    found = intervals(log)
    assert len(found["plain"]) == 8
    assert most_at_once([span for spans in found.values() for span in spans]) == 3
    assert most_at_once([span for tenant in "abcd" for span in found[tenant]]) >= 2


def test_a_paused_queues_capped_tasks_do_not_start_until_it_resumes(
    workers: WorkerProcesses, tmp_path: Path
) -> None:
    log = tmp_path / "bodies"
    pause_queue("emails")
    held = limited_tasks.tenant_work.using(queue_name="emails").enqueue_many(
        [(str(log), tenant, 0.0) for tenant in "ab" for _ in range(3)]
    )
    held.append(limited_tasks.capped.using(queue_name="emails").enqueue(str(log), 0.0))
    start_workers(workers, "--queues", "default,emails")
    # The workers serve the default queue's capped work meanwhile.
    elsewhere = limited_tasks.capped.enqueue(str(log), 0.0)
    wait_for(lambda: all_succeeded([elsewhere]), timeout=60)
    time.sleep(2)  # each worker has looked at the gated work several times
    assert (
        not models.Task.objects.filter(pk__in=[r.id for r in held])
        .exclude(status=Status.QUEUED)
        .exists()
    )
    resume_queue("emails")
    wait_for(lambda: all_succeeded(held), timeout=60)
