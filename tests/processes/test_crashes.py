"""What a crash may cost: real workers killed, stopped and stuck."""

from __future__ import annotations

import contextlib
import os
import random
import signal
import time
from collections import Counter
from pathlib import Path

import pytest

from django_taskflow import models
from django_taskflow.states import FINISHED, AttemptOutcome, Status
from tests import tasks
from tests.conftest import WorkerProcesses, wait_for

pytestmark = pytest.mark.processes


def lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


def test_thread_pool_starts_no_slot_and_claims_nothing_after_sigterm(
    workers: WorkerProcesses, tmp_path: Path
) -> None:
    mark = tmp_path / "started"
    tasks.blocks_in_sleep.enqueue(str(mark))  # its slot is given up about 4 s in
    process = workers.start("--pool", "thread", grace_seconds=30)
    wait_for(lambda: lines(mark))
    process.send_signal(signal.SIGTERM)
    arrived_late = tasks.add.enqueue(1, 2)

    # The given-up slot is not replaced, so nothing is left to wait for.
    assert process.wait(timeout=20) == 0
    row = models.Task.objects.get(pk=arrived_late.id)
    assert (row.status, row.attempts) == (Status.QUEUED, 0)


# -- helpers for the crash tests -------------------------------------------------


def slot_pids(supervisor_pid: int) -> list[int]:
    """The live slot processes of a supervisor."""
    try:
        children = Path(f"/proc/{supervisor_pid}/task/{supervisor_pid}/children").read_text()
    except OSError:
        return []
    return [int(pid) for pid in children.split()]


def executions(log: Path) -> Counter[tuple[str, str, int]]:
    """(kind, task id, attempt) -> how many times the log has that line."""
    found: Counter[tuple[str, str, int]] = Counter()
    for line in lines(log):
        kind, task_id, attempt, _pid = line.split()
        found[kind, task_id, int(attempt)] += 1
    return found


def settled(ids: list[str]) -> bool:
    return models.Task.objects.filter(pk__in=ids, status__in=list(FINISHED)).count() == len(ids)


# -- default options under random SIGKILLs ------------------------------------------


def test_random_sigkills_cost_no_task_and_charge_only_started_attempts(
    workers: WorkerProcesses, tmp_path: Path
) -> None:
    log = tmp_path / "executions"
    # Short bodies, so that slots prefetch several tasks at a time.
    results = tasks.log_execution.enqueue_many([(str(log), 0.004)] * 1200)
    ids = [result.id for result in results]
    supervisors = [workers.start("--concurrency", "2", lease_seconds=600) for _ in range(2)]
    chance = random.Random(7)
    kills = {"slot": 0, "supervisor": 0}
    last_slot_kill: dict[int, float] = {}
    deadline = time.monotonic() + 60
    while not settled(ids) and time.monotonic() < deadline:
        # Kill after some more work was done: between 20 and 80 more log lines.
        seen = len(lines(log)) + chance.randint(20, 80)
        wait_for(lambda: len(lines(log)) >= seen or settled(ids), timeout=30)  # noqa: B023
        position = chance.randrange(len(supervisors))
        supervisor = supervisors[position]
        pids = slot_pids(supervisor.pid)
        if kills["supervisor"] < 2 and chance.random() < 0.15:
            # Its slots see it gone, finish what runs and hand back the rest.
            if time.monotonic() - last_slot_kill.get(supervisor.pid, 0) < 1.5:
                continue  # let it recover the slot it lost first
            os.kill(supervisor.pid, signal.SIGKILL)
            supervisor.wait(timeout=10)
            kills["supervisor"] += 1
            supervisors[position] = workers.start("--concurrency", "2", lease_seconds=600)
        elif pids and kills["slot"] < 14:
            with contextlib.suppress(ProcessLookupError):
                os.kill(chance.choice(pids), signal.SIGKILL)
            kills["slot"] += 1
            last_slot_kill[supervisor.pid] = time.monotonic()
    wait_for(lambda: settled(ids), timeout=60)
    assert kills["slot"] >= 5

    rows = {str(row.pk): row for row in models.Task.objects.filter(pk__in=ids)}
    lost_for_good = [task_id for task_id, row in rows.items() if row.status != Status.SUCCEEDED]
    assert lost_for_good == [], f"not succeeded (lost MAX_LOST_ATTEMPTS times?): {lost_for_good}"
    ran = executions(log)
    attempts = {
        (str(a.task_id), a.number): a.outcome
        for a in models.Attempt.objects.filter(task_id__in=ids)
    }
    # Every execution of a body is an attempt on record.
    assert all((task_id, number) in attempts for (_, task_id, number) in ran)
    # No attempt was charged to a task that never started. A slot may be
    # killed after it marked a body as started but before the body wrote its
    # first line: at most one such attempt per killed slot, never the tasks
    # it had prefetched.
    unlogged = Counter(
        attempt.worker_id
        for attempt in models.Attempt.objects.filter(task_id__in=ids)
        if ran["start", str(attempt.task_id), attempt.number] == 0
    )
    assert all(count == 1 for count in unlogged.values()), unlogged
    assert all(row.attempts == len(row.attempt_set.all()) for row in rows.values())
    # Every extra execution is a recorded lost attempt, and a body starts
    # at most once per attempt number.
    for task_id, row in rows.items():
        for number in range(1, row.attempts + 1):
            assert ran["start", task_id, number] <= 1, (task_id, number)
            if number < row.attempts:
                assert attempts[task_id, number] == AttemptOutcome.LOST, (task_id, number)
        assert attempts[task_id, row.attempts] == AttemptOutcome.SUCCEEDED
        assert row.lost_attempts == row.attempts - 1


# -- on_lost="fail" -------------------------------------------------------------------


def test_task_that_must_not_run_twice_fails_instead_of_running_again(
    workers: WorkerProcesses, tmp_path: Path
) -> None:
    log = tmp_path / "executions"
    results = tasks.must_not_run_twice.enqueue_many([(str(log), 0.3)] * 6)
    ids = [result.id for result in results]
    workers.start("--concurrency", "2", lease_seconds=600)
    for _ in range(3):
        seen = len(lines(log))
        newest = wait_for(lambda: lines(log)[seen:], timeout=30)[-1]  # noqa: B023
        with contextlib.suppress(ProcessLookupError):  # it finished already
            os.kill(int(newest.split()[3]), signal.SIGKILL)  # the slot running that body
    wait_for(lambda: settled(ids), timeout=60)

    ran = executions(log)
    for task_id in ids:
        assert (
            sum(n for (kind, tid, _), n in ran.items() if kind == "start" and tid == task_id) <= 1
        )
    failed = models.Task.objects.filter(pk__in=ids, status=Status.FAILED)
    assert failed.count() >= 1
    for row in failed:
        # Its slot died mid-run, or before the outcome of a body that had
        # returned was written: either way it never ran again.
        assert row.attempts == 1
        [attempt] = row.attempt_set.all()
        assert attempt.error_class == "django_taskflow.exceptions.WorkerLost"
    succeeded = models.Task.objects.filter(pk__in=ids, status=Status.SUCCEEDED)
    assert all(ran["start", str(row.pk), row.attempts] == 1 for row in succeeded)


def test_task_that_must_not_run_twice_is_never_prefetched(
    workers: WorkerProcesses, tmp_path: Path
) -> None:
    # Quick tasks first, so that the slot would prefetch many at a time.
    warm_up = tasks.noop.enqueue_many([()] * 200)
    first = workers.start(lease_seconds=2)
    wait_for(lambda: settled([r.id for r in warm_up]), timeout=30)
    log = tmp_path / "executions"
    results = tasks.must_not_run_twice.enqueue_many([(str(log), 1)] * 4)
    wait_for(lambda: lines(log))
    # The whole host is gone: only lease expiry can recover its tasks.
    os.killpg(first.pid, signal.SIGKILL)
    first.wait(timeout=10)
    workers.start(lease_seconds=2)
    ids = [result.id for result in results]
    wait_for(lambda: settled(ids), timeout=60)

    rows = list(models.Task.objects.filter(pk__in=ids).order_by("id"))
    assert [row.status for row in rows].count(Status.FAILED) == 1  # only the one that ran
    assert all(row.attempts == 1 for row in rows)


# -- MAX_LOST_ATTEMPTS ---------------------------------------------------------------


def test_task_that_kills_its_slot_every_time_fails_after_max_lost_attempts(
    workers: WorkerProcesses,
) -> None:
    result = tasks.kills_its_own_slot.enqueue()
    process = workers.start(lease_seconds=600)

    wait_for(lambda: settled([result.id]), timeout=45)

    row = models.Task.objects.get(pk=result.id)
    assert (row.status, row.attempts, row.lost_attempts) == (Status.FAILED, 3, 3)
    outcomes = [a.outcome for a in row.attempt_set.order_by("number")]
    assert outcomes == [AttemptOutcome.LOST] * 3
    assert "MAX_LOST_ATTEMPTS" in row.attempt_set.order_by("number").last().error_message  # type: ignore[union-attr]
    assert process.poll() is None


# -- fault 7: a hard limit in code that holds the GIL (process pool) -----------------


def test_supervisor_kills_a_slot_stuck_past_its_hard_limit_in_code_holding_the_gil(
    workers: WorkerProcesses, tmp_path: Path
) -> None:
    mark = tmp_path / "started"
    stuck = tasks.catastrophic_regex.enqueue(str(mark))
    process = workers.start(lease_seconds=600)
    wait_for(lambda: lines(mark))
    started = time.monotonic()

    wait_for(lambda: settled([stuck.id]), timeout=30)

    assert time.monotonic() - started < 2 + 3 + 1 + 5  # hard limit, grace, margin
    row = models.Task.objects.get(pk=stuck.id)
    assert row.status == Status.FAILED
    [attempt] = row.attempt_set.all()
    assert attempt.outcome == AttemptOutcome.TIMED_OUT
    assert "could not be interrupted" in attempt.error_message
    # A fresh slot took over.
    assert tasks.add.enqueue(1, 1).wait(timeout=30).return_value == 2
    assert process.poll() is None
