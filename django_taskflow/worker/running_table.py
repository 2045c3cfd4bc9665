"""The running table: which task bodies each slot has started, read by its supervisor.

A slot marks a task just before its body starts and clears the mark once
the task's outcome is committed (see ``marks.py``). When a slot dies, its
supervisor reads the slot's marks: a marked task was lost mid-run, an
unmarked one it held never started and goes back uncharged. The supervisor
also enforces hard time limits from outside with it (a body stuck in C code
holding the GIL cannot be interrupted from inside its process).

Process pool: :class:`SharedRunningTable` is one anonymous shared memory
mapping, created by the supervisor before it forks, with one region per
slot. Each region has a single writer (the slot) and no lock, so that a
slot killed at any instant cannot leave a lock held. Each entry carries a
sequence number (a seqlock): the writer makes it odd, writes the entry,
then makes it even again; a reader keeps an entry only if it saw the same
even number before and after reading it. A slot killed while writing leaves
that one entry odd, and the reader skips it. Only a start is written that
way, and its body has not begun, so the task is rightly treated as
unstarted. A change of state alone (body ended, outcome committed) is one
byte, written without a sequence update: it cannot be torn, and a slot
killed as it writes it leaves the old state or the new. Entries are 56
bytes; a region holds ``capacity`` of them.

Thread pool: :class:`MemoryMarks`, the same protocol in a dict.
"""

from __future__ import annotations

import logging
import mmap
import struct
import threading
import time
import uuid
from collections.abc import Collection
from dataclasses import dataclass

logger = logging.getLogger(__name__)

# seq, state, task id, attempt, started (CLOCK_MONOTONIC seconds), hard limit (NaN: none)
_ENTRY = struct.Struct("<QB7x16sI4xdd")
_SEQ = struct.Struct("<Q")
_STATE = struct.Struct("<B")  # right after the sequence number
_FREE, _RUNNING, _BODY_ENDED = 0, 1, 2
# A reader gives up on an entry that keeps changing under it, until its next look.
_READ_TRIES = 3
# How long a slot whose region is full waits for its recorder to commit.
_FULL_WAIT_SECONDS = 1.0


def capacity_for(batch_size: int) -> int:
    """Entries a slot's region needs: what it may have started but not yet committed.

    Its recorder may hold up to ``4 * batch_size`` finished tasks while it
    writes another ``4 * batch_size``; plus the running one, with room to spare.
    """
    return 8 * batch_size + 8


@dataclass(frozen=True, slots=True)
class Mark:
    """One started task, as the supervisor sees it."""

    task_id: uuid.UUID
    attempt: int
    started_at: float  # time.monotonic(): CLOCK_MONOTONIC, the same in every process
    hard_limit: float | None
    body_running: bool  # False once the body returned, while its outcome waits

    def overdue(self, now: float, grace: float) -> bool:
        """Whether the body still runs ``grace`` seconds past its hard limit."""
        return (
            self.body_running
            and self.hard_limit is not None
            and now >= self.started_at + self.hard_limit + grace
        )


class SharedRunningTable:
    """One region of marks per slot, in memory shared across ``fork``."""

    def __init__(self, slots: int, capacity: int) -> None:
        self.slots = slots
        self.capacity = capacity
        self.memory = mmap.mmap(-1, slots * capacity * _ENTRY.size)  # MAP_SHARED | MAP_ANONYMOUS

    def offset(self, slot: int, entry: int) -> int:
        return (slot * self.capacity + entry) * _ENTRY.size

    def writer(self, slot: int) -> SlotMarks:
        """The marks of region ``slot``, for the slot process (after fork)."""
        return SlotMarks(self, slot)

    def clear(self, slot: int) -> None:
        """Empty region ``slot`` before a new slot process takes it over."""
        start = self.offset(slot, 0)
        self.memory[start : start + self.capacity * _ENTRY.size] = bytes(
            self.capacity * _ENTRY.size
        )

    def read(self, slot: int) -> list[Mark]:
        """The marks in region ``slot`` that were whole when read."""
        marks = []
        for entry in range(self.capacity):
            mark = self._read_entry(self.offset(slot, entry))
            if mark is not None:
                marks.append(mark)
        return marks

    def _read_entry(self, offset: int) -> Mark | None:
        for _ in range(_READ_TRIES):
            seq, state, raw_id, attempt, started, hard = _ENTRY.unpack_from(self.memory, offset)
            if seq % 2:
                continue  # being written; or its writer died mid-write (skip it)
            if _SEQ.unpack_from(self.memory, offset)[0] != seq:
                continue  # changed while read
            if state == _FREE:
                return None
            return Mark(
                task_id=uuid.UUID(bytes=raw_id),
                attempt=attempt,
                started_at=started,
                hard_limit=None if hard != hard else hard,  # NaN: no limit
                body_running=state == _RUNNING,
            )
        return None

    def close(self) -> None:
        self.memory.close()


class SlotMarks:
    """A slot's side of its region (:class:`~django_taskflow.worker.marks.RunningMarks`).

    The slot's main thread marks starts and its recorder clears marks, so a
    process-local lock orders them; the supervisor never takes it.
    """

    def __init__(self, table: SharedRunningTable, slot: int) -> None:
        self.table = table
        self.slot = slot
        self.lock = threading.Condition()
        self.entries: dict[uuid.UUID, int] = {}
        self.free = list(range(table.capacity - 1, -1, -1))
        self.seqs = [0] * table.capacity
        table.clear(slot)

    def _write(
        self, entry: int, state: int, task_id: uuid.UUID, attempt: int, started: float, hard: float
    ) -> None:
        offset = self.table.offset(self.slot, entry)
        memory = self.table.memory
        self.seqs[entry] += 1  # odd: readers skip the entry until it is whole again
        _SEQ.pack_into(memory, offset, self.seqs[entry])
        _ENTRY.pack_into(
            memory, offset, self.seqs[entry], state, task_id.bytes, attempt, started, hard
        )
        self.seqs[entry] += 1
        _SEQ.pack_into(memory, offset, self.seqs[entry])

    def started(self, task_id: uuid.UUID, attempt: int, hard_limit: float | None) -> None:
        with self.lock:
            entry = self._free_entry()
            self.entries[task_id] = entry
            hard = float("nan") if hard_limit is None else float(hard_limit)
            self._write(entry, _RUNNING, task_id, attempt, time.monotonic(), hard)

    def _free_entry(self) -> int:
        deadline = time.monotonic() + _FULL_WAIT_SECONDS
        while not self.free and time.monotonic() < deadline:
            self.lock.wait(deadline - time.monotonic())
        if self.free:
            return self.free.pop()
        # Never expected (capacity_for leaves room): reuse the oldest mark
        # and say so. Its task, if the slot then dies, counts as unstarted.
        oldest = next(iter(self.entries))
        logger.error(
            "the running table of this slot is full; forgetting the mark of task %s",
            oldest,
            extra={"action": "running_table_full", "task_id": str(oldest)},
        )
        return self.entries.pop(oldest)

    def _write_state(self, entry: int, state: int) -> None:
        # One byte, written at once: a reader sees the old state or the new,
        # beside the same other fields, so no sequence update is needed. And
        # none is wanted: a slot killed between two sequence updates would
        # leave the entry odd, and a body that ran would count as unstarted.
        _STATE.pack_into(self.table.memory, self.table.offset(self.slot, entry) + _SEQ.size, state)

    def body_ended(self, task_id: uuid.UUID) -> None:
        with self.lock:
            entry = self.entries.get(task_id)
            if entry is not None:
                self._write_state(entry, _BODY_ENDED)

    def committed(self, task_ids: Collection[uuid.UUID]) -> None:
        with self.lock:
            for task_id in task_ids:
                entry = self.entries.pop(task_id, None)
                if entry is not None:
                    self._write_state(entry, _FREE)
                    self.free.append(entry)
            self.lock.notify_all()


class MemoryMarks:
    """The same marks for a thread slot, which its supervisor reads in-process."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.marks: dict[uuid.UUID, Mark] = {}

    def started(self, task_id: uuid.UUID, attempt: int, hard_limit: float | None) -> None:
        with self.lock:
            self.marks[task_id] = Mark(task_id, attempt, time.monotonic(), hard_limit, True)

    def body_ended(self, task_id: uuid.UUID) -> None:
        with self.lock:
            mark = self.marks.get(task_id)
            if mark is not None:
                self.marks[task_id] = Mark(
                    task_id, mark.attempt, mark.started_at, mark.hard_limit, False
                )

    def committed(self, task_ids: Collection[uuid.UUID]) -> None:
        with self.lock:
            for task_id in task_ids:
                self.marks.pop(task_id, None)

    def read(self) -> list[Mark]:
        with self.lock:
            return list(self.marks.values())


def started_attempts(marks: Collection[Mark]) -> dict[uuid.UUID, int]:
    """The ``started`` mapping ``recovery.release_worker`` takes."""
    return {mark.task_id: mark.attempt for mark in marks}
