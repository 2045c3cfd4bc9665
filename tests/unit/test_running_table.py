"""The running table: what a slot marks, and what its supervisor reads after it dies."""

from __future__ import annotations

import os
import signal
import time
import uuid
import warnings

import pytest

from django_taskflow.worker import running_table
from django_taskflow.worker.running_table import MemoryMarks, SharedRunningTable

A, B, C = (uuid.UUID(int=n) for n in (1, 2, 3))


def test_supervisor_reads_what_a_slot_process_marked_before_it_was_killed() -> None:
    table = SharedRunningTable(slots=2, capacity=8)
    with warnings.catch_warnings():
        # Other tests may have left threads behind; this child uses none of them.
        warnings.simplefilter("ignore", DeprecationWarning)
        pid = os.fork()
    if pid == 0:  # the slot process
        marks = table.writer(1)
        marks.started(A, 1, 2.5)
        marks.body_ended(A)
        marks.started(B, 3, None)
        marks.committed([A])
        marks.started(C, 1, None)
        os.kill(os.getpid(), signal.SIGKILL)
    os.waitpid(pid, 0)

    marks = {mark.task_id: mark for mark in table.read(1)}

    assert set(marks) == {B, C}
    assert (marks[B].attempt, marks[B].hard_limit, marks[B].body_running) == (3, None, True)
    assert abs(marks[B].started_at - time.monotonic()) < 30  # CLOCK_MONOTONIC, shared
    assert table.read(0) == []


def test_entry_whose_writer_died_mid_write_is_skipped() -> None:
    table = SharedRunningTable(slots=1, capacity=4)
    marks = table.writer(0)
    marks.started(A, 1, None)
    marks.started(B, 1, None)
    # A writer killed between its two sequence updates leaves the entry odd.
    offset = table.offset(0, marks.entries[B])
    running_table._SEQ.pack_into(table.memory, offset, marks.seqs[marks.entries[B]] + 1)

    assert [mark.task_id for mark in table.read(0)] == [A]


def test_body_ended_keeps_the_mark_but_lifts_the_hard_limit() -> None:
    table = SharedRunningTable(slots=1, capacity=4)
    marks = table.writer(0)
    marks.started(A, 2, 1.0)
    [running] = table.read(0)
    assert running.overdue(running.started_at + 5, grace=3)

    marks.body_ended(A)

    [ended] = table.read(0)
    assert (ended.task_id, ended.attempt, ended.body_running) == (A, 2, False)
    assert not ended.overdue(ended.started_at + 5, grace=3)


def test_attempt_is_overdue_only_past_its_hard_limit_plus_grace() -> None:
    mark = running_table.Mark(A, 1, started_at=100.0, hard_limit=2.0, body_running=True)

    assert not mark.overdue(104.9, grace=3)
    assert mark.overdue(105.0, grace=3)
    assert not running_table.Mark(A, 1, 100.0, None, True).overdue(1e9, grace=3)


def test_committed_entries_are_reused() -> None:
    table = SharedRunningTable(slots=1, capacity=2)
    marks = table.writer(0)
    for number in range(10):
        task_id = uuid.UUID(int=100 + number)
        marks.started(task_id, 1, None)
        marks.committed([task_id])

    assert table.read(0) == []


def test_full_region_forgets_the_oldest_mark_rather_than_block_for_ever(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    table = SharedRunningTable(slots=1, capacity=2)
    marks = table.writer(0)
    marks.started(A, 1, None)
    marks.started(B, 1, None)
    monkeypatch.setattr(running_table, "_FULL_WAIT_SECONDS", 0.01)

    marks.started(C, 1, None)

    assert {mark.task_id for mark in table.read(0)} == {B, C}
    assert "running table of this slot is full" in caplog.text


def test_clear_empties_a_region_for_the_next_slot() -> None:
    table = SharedRunningTable(slots=2, capacity=4)
    table.writer(0).started(A, 1, None)
    table.writer(1).started(B, 1, None)

    table.clear(0)

    assert table.read(0) == []
    assert [mark.task_id for mark in table.read(1)] == [B]


def test_capacity_covers_everything_a_slot_may_hold_uncommitted() -> None:
    assert running_table.capacity_for(50) >= 8 * 50 + 1


def test_memory_marks_for_thread_slots_read_the_same() -> None:
    marks = MemoryMarks()
    marks.started(A, 1, 3.0)
    marks.started(B, 2, None)
    marks.body_ended(A)
    marks.committed([B])

    [mark] = marks.read()
    assert (mark.task_id, mark.attempt, mark.hard_limit, mark.body_running) == (A, 1, 3.0, False)
    assert running_table.started_attempts(marks.read()) == {A: 1}


class _KilledWhileWriting:
    """A stand-in for the state field's packer that kills the process as it writes."""

    def pack_into(self, *args: object) -> None:
        os.kill(os.getpid(), signal.SIGKILL)


def test_slot_killed_while_marking_a_body_ended_still_counts_the_task_started() -> None:
    # The body ran (it may have had effects): if the slot dies as it notes
    # the body's return, the task must still count as started, never as
    # unstarted (which would run it again with no lost attempt on record).
    table = SharedRunningTable(slots=1, capacity=4)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        pid = os.fork()
    if pid == 0:  # the slot process
        marks = table.writer(0)
        marks.started(A, 1, None)
        running_table._STATE = _KilledWhileWriting()  # type: ignore[assignment]
        marks.body_ended(A)
        os._exit(0)  # not reached
    os.waitpid(pid, 0)

    assert [(mark.task_id, mark.attempt) for mark in table.read(0)] == [(A, 1)]
