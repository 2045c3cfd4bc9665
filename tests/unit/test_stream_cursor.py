"""The rule that tells an event stream when a skipped id can no longer appear."""

from __future__ import annotations

from django_taskflow.stream_cursor import IdRanges, StreamCursor


def log_cursor(position: int = 0) -> StreamCursor:
    return StreamCursor(position, watches_late_commits=True)


def holes(cursor: StreamCursor) -> list[tuple[int, int]]:
    return list(cursor.holes)


def test_skipped_ids_become_holes() -> None:
    cursor = log_cursor(10)
    cursor.read_log([], [11, 14, 15, 18], truncated=False)
    assert cursor.position == 18
    assert holes(cursor) == [(12, 13), (16, 17)]
    assert not cursor.is_settled


def test_a_late_arrival_fills_its_hole() -> None:
    cursor = log_cursor()
    cursor.read_log([], [1, 5], truncated=False)
    cursor.read_log([3], [], truncated=False)
    assert holes(cursor) == [(2, 2), (4, 4)]


def test_holes_stay_while_a_transaction_that_may_fill_them_runs() -> None:
    cursor = log_cursor()
    cursor.read_log([], [1, 5], truncated=False)
    cursor.horizon(100, 110)  # ids up to 5 were drawn by transactions below 110
    cursor.read_log([], [], truncated=False)
    cursor.horizon(109, 112)  # transaction 109 still runs
    cursor.read_log([], [], truncated=False)
    assert holes(cursor) == [(2, 4)]


def test_holes_settle_on_the_read_after_every_such_transaction_ended() -> None:
    cursor = log_cursor()
    cursor.read_log([], [1, 5], truncated=False)
    cursor.horizon(100, 110)
    cursor.read_log([], [], truncated=False)
    cursor.horizon(110, 111)  # everything below 110 has ended
    assert holes(cursor) == [(2, 4)]  # the next read may still find them
    cursor.read_log([3], [6, 9], truncated=False)
    assert holes(cursor) == [(7, 8)]  # 2 and 4 will never appear; 7 and 8 may


def test_ids_read_after_a_bound_was_taken_settle_with_a_later_bound() -> None:
    cursor = log_cursor()
    cursor.read_log([], [1, 3], truncated=False)
    cursor.horizon(100, 110)
    cursor.read_log([], [5], truncated=False)  # hole 4 shows up after the bound for 3
    cursor.horizon(110, 120)  # settles id 3 and below, takes a bound for 5
    cursor.read_log([], [], truncated=False)
    assert holes(cursor) == [(4, 4)]
    cursor.horizon(120, 121)
    cursor.read_log([], [], truncated=False)
    assert cursor.is_settled


def test_a_task_stream_skips_what_it_saw_until_settled() -> None:
    cursor = log_cursor(0)
    cursor.read_task([4, 9], truncated=False)
    assert (cursor.floor, cursor.seen) == (0, {4, 9})
    cursor.horizon(50, 60)
    cursor.read_task([2], truncated=False)  # a late arrival below what was seen
    cursor.horizon(60, 61)
    cursor.read_task([], truncated=False)
    assert (cursor.floor, cursor.seen, cursor.position) == (9, set(), 9)
    assert cursor.is_settled


def test_a_truncated_task_read_settles_only_what_it_covered() -> None:
    cursor = log_cursor(0)
    cursor.read_task([1, 2, 3], truncated=False)
    cursor.horizon(10, 20)
    cursor.horizon(20, 21)  # ready to settle through 3
    cursor.read_task([5], truncated=True)  # ids above 5 not read yet
    assert cursor.floor == 3
    assert cursor.seen == {5}


def test_sqlite_cursor_never_watches_below_its_position() -> None:
    cursor = StreamCursor(0, watches_late_commits=False)
    cursor.read_log([], [1, 5, 9], truncated=True)
    assert (holes(cursor), cursor.position, cursor.has_more) == ([], 9, True)
    cursor.read_task([12], truncated=False)
    assert (cursor.floor, cursor.seen) == (12, set())
    assert cursor.is_settled


def test_a_long_transaction_keeps_a_bounded_number_of_bounds() -> None:
    cursor = log_cursor()
    for step in range(1, 100):
        cursor.read_task([step], truncated=False)
        cursor.horizon(5, 10 + step)  # transaction 5 never ends
    assert len(cursor._pending) <= 8
    cursor.horizon(1_000, 1_001)
    cursor.read_task([], truncated=False)
    assert cursor.is_settled


def test_id_ranges_split_and_drop() -> None:
    ranges = IdRanges()
    ranges.add(1, 3)
    ranges.add(4, 6)  # adjacent: merged
    ranges.add(9, 9)
    ranges.discard(2)
    ranges.discard(7)  # not held
    assert list(ranges) == [(1, 1), (3, 6), (9, 9)]
    ranges.drop_through(4)
    assert list(ranges) == [(5, 6), (9, 9)]
    ranges.drop_through(9)
    assert not ranges
