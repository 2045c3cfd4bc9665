"""When a dead slot process is started again."""

from __future__ import annotations

import time

from django_taskflow.worker.respawn import RespawnSchedule


def pause_after(schedule: RespawnSchedule, index: int) -> float:
    return schedule.due[index] - time.monotonic()


def test_slot_that_lived_long_is_started_again_at_once() -> None:
    schedule = RespawnSchedule()
    schedule.schedule(0, lived=120.0)

    assert schedule.take_due() == [0]
    assert not schedule


def test_pause_doubles_while_a_slot_keeps_dying_young_and_is_capped() -> None:
    schedule = RespawnSchedule()
    pauses = []
    for _ in range(9):
        schedule.schedule(0, lived=0.5)
        pauses.append(round(pause_after(schedule, 0)))

    assert pauses == [1, 2, 4, 8, 16, 32, 60, 60, 60]


def test_a_long_life_or_a_death_not_its_own_resets_the_pause() -> None:
    schedule = RespawnSchedule()
    for _ in range(3):
        schedule.schedule(0, lived=0.5)
    schedule.schedule(0, lived=None)  # given up after a hard limit its task ignored

    assert schedule.take_due() == [0]
    schedule.schedule(0, lived=0.5)
    assert round(pause_after(schedule, 0)) == 1


def test_each_slot_waits_alone_and_the_loop_sleeps_no_longer_than_the_soonest() -> None:
    schedule = RespawnSchedule()
    for _ in range(4):
        schedule.schedule(0, lived=0.5)  # due in 8 s
    schedule.schedule(1, lived=300.0)  # due now

    assert schedule.take_due() == [1]
    assert 7 < schedule.wait_at_most(60.0) <= 8
    assert schedule.wait_at_most(0.2) == 0.2
