"""Where an event stream has read up to, and which lower ids may still commit.

Pure bookkeeping for ``events.EventStream``; it never touches the database.

An event's id is drawn when its row is inserted, but the row is seen only
when its transaction commits. On PostgreSQL a lower id can therefore appear
after a higher one (on SQLite it cannot: writers are serialised). A stream
that moved past an id it has not seen must keep asking for it until it is
sure no transaction can still commit it. The rule, with the stream's queries
in time order:

1. Every transaction that inserts events takes its transaction id before it
   draws any event id (``db.postgres.assign_transaction_id``).
2. After a read, ``horizon()`` is given the database's commit horizon: the
   oldest running transaction id and the next id to be assigned. Every id
   up to the highest one read so far was drawn before that read, so by
   rule 1 its transaction's id is below that "next id": the pair
   ``(position, next id)`` becomes a *pending* bound.
3. A later horizon whose oldest running id has reached the bound's next id
   says that every such transaction has ended. The next read sees every row
   they committed, so after it the ids up to the bound's position are
   *settled*: what was not found then was rolled back or deleted and will
   never appear.

Two ways of reading use it:

- **log order** (no task given): the stream reads the whole log forward by
  id and keeps the ids it skipped as *holes*, which it reads again by id
  until they are settled;
- **task order** (``task=`` given): the stream reads through the
  ``(task, id)`` index from ``floor``, the highest settled id, and skips
  the ids it has already yielded (*seen*) until they are settled.

Transaction ids are 64 bits (``xid8``) and never wrap around. Rule 2
assumes event ids are drawn in increasing order, from a sequence without a
per-session cache (PostgreSQL's default, and what Django creates).
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Iterator

_MAX_PENDING = 8


class IdRanges:
    """A set of ids kept as sorted, disjoint, inclusive ranges."""

    def __init__(self) -> None:
        self._ranges: list[tuple[int, int]] = []

    def __bool__(self) -> bool:
        return bool(self._ranges)

    def __iter__(self) -> Iterator[tuple[int, int]]:
        return iter(self._ranges)

    def add(self, low: int, high: int) -> None:
        """Add ``low..high``, which lies above every range held."""
        if low > high:
            return
        if self._ranges and self._ranges[-1][1] >= low - 1:
            self._ranges[-1] = (self._ranges[-1][0], max(high, self._ranges[-1][1]))
        else:
            self._ranges.append((low, high))

    def discard(self, value: int) -> None:
        """Remove one id, splitting the range that holds it."""
        index = bisect.bisect_right(self._ranges, value, key=lambda piece: piece[0]) - 1
        if index < 0:
            return
        low, high = self._ranges[index]
        if not low <= value <= high:
            return
        pieces = [(low, value - 1)] if low < value else []
        if value < high:
            pieces.append((value + 1, high))
        self._ranges[index : index + 1] = pieces

    def drop_through(self, value: int) -> None:
        """Forget every id up to and including ``value``."""
        kept = [(max(low, value + 1), high) for low, high in self._ranges if high > value]
        self._ranges = kept


class StreamCursor:
    """The read position of one stream, and the ids below it it still watches.

    ``watches_late_commits`` is False where transactions commit in id order
    (SQLite): then nothing below the position is ever watched.
    """

    def __init__(self, position: int, *, watches_late_commits: bool) -> None:
        self.position = position
        self.floor = position
        self.watches_late_commits = watches_late_commits
        self.holes = IdRanges()
        self.seen: set[int] = set()
        self.has_more = False
        self._pending: list[tuple[int, int]] = []
        self._ready = position

    @property
    def is_settled(self) -> bool:
        """True when no id below the position can still appear."""
        return not self.holes and not self.seen

    def horizon(self, oldest_running: int, next_id: int) -> None:
        """Take the commit horizon read after the last read and before the next one."""
        still_pending = []
        for position, bound in self._pending:
            if oldest_running >= bound:
                self._ready = max(self._ready, position)
            else:
                still_pending.append((position, bound))
        if not self.is_settled and (not still_pending or still_pending[-1][0] < self.position):
            # While a long transaction holds the horizon back, the newest bound
            # is replaced rather than kept: later is only more cautious.
            if len(still_pending) >= _MAX_PENDING:
                still_pending[-1] = (self.position, next_id)
            else:
                still_pending.append((self.position, next_id))
        self._pending = still_pending

    # -- log order ------------------------------------------------------------

    def read_log(self, late: Iterable[int], forward: list[int], *, truncated: bool) -> None:
        """Record one read: ``late`` ids found in the holes, ``forward`` ids above the position.

        ``forward`` is in id order; ``truncated`` says the read stopped at a
        page's end, so more may follow at once.
        """
        for found in late:
            self.holes.discard(found)
        self.has_more = truncated
        if forward:
            if self.watches_late_commits:
                expected = self.position + 1
                for found in forward:
                    self.holes.add(expected, found - 1)
                    expected = found + 1
            self.position = forward[-1]
        self._settle(self._ready)

    # -- task order -----------------------------------------------------------

    def read_task(self, ids: list[int], *, truncated: bool) -> None:
        """Record one read of the ids above ``floor`` not yet ``seen``, in id order."""
        self.has_more = truncated
        if ids:
            self.position = max(self.position, ids[-1])
        if not self.watches_late_commits:
            self.floor = self.position
            return
        self.seen.update(ids)
        # A truncated read covered only the ids up to its last one.
        self._settle(min(self._ready, ids[-1]) if truncated and ids else self._ready)

    def _settle(self, through: int) -> None:
        if not self.watches_late_commits:
            self.floor = self.position
            return
        if through <= self.floor:
            return
        self.floor = min(through, self.position)
        self.holes.drop_through(self.floor)
        self.seen = {found for found in self.seen if found > self.floor}
