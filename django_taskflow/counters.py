"""Counters of ended attempts that never go backwards: written with each outcome, read by metrics.

The worker's recorder adds each batch's attempts to ``models.TaskCounter``
in the statement (PostgreSQL) or transaction (SQLite) that records them
(``db.postgres.record``, ``db.sqlite.record``), counting only the outcomes
it won. Attempts ended without an outcome of their own (lost, interrupted,
killed at the hard limit, cancelled meanwhile) are counted with their
Attempt row by :func:`count_abrupt_end`. Pruning never touches the table,
so the counts only grow, and every worker adds to the same rows, so one
scrape sees them all.

Each attempt's duration falls in one of ``BUCKETS`` (seconds, upper bounds
as Prometheus histograms use them); the rows keep a count and a sum of
durations per bucket, from which :func:`read` builds cumulative buckets.
"""

from __future__ import annotations

import bisect
import math
import zlib
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime

from django.db import connections
from django.db.models import Sum

from django_taskflow import models
from django_taskflow.db import add_counts
from django_taskflow.states import AttemptOutcome, Status

# From a few milliseconds (a quick job) to an hour (a report).
BUCKETS: tuple[float, ...] = (
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
    60.0,
    300.0,
    900.0,
    3600.0,
    math.inf,
)
# The bucket of attempts that ended without a duration of their own (lost,
# interrupted, killed): counted, but left out of the histogram.
UNTIMED = -1.0

# Counter rows per key: slots recording at once mostly write different rows,
# so none waits for another's commit to add to its row.
SHARDS = 16

type Timing = tuple[float, float]  # (bucket, seconds) of one attempt


def shard_for(worker_id: str) -> int:
    """The counter shard a slot writes to: the same for each of its batches."""
    return zlib.crc32(worker_id.encode()) % SHARDS


def timing(started_at: datetime, finished_at: datetime) -> Timing:
    """The duration bucket and seconds of an attempt that ran from ``started_at`` to ``finished_at``."""
    seconds = max(0.0, (finished_at - started_at).total_seconds())
    return BUCKETS[bisect.bisect_left(BUCKETS, seconds)], seconds


def count_abrupt_end(
    database: str, task: models.Task, *, outcome: AttemptOutcome, status: Status
) -> None:
    """Count ``task``'s attempt that ended without an outcome of its own.

    Call it in the transaction that writes the attempt's row: the count
    commits with it, or not at all.
    """
    with connections[database].cursor() as cursor:
        add_counts(
            cursor,
            table=models.TaskCounter._meta.db_table,
            rows=[
                (
                    task.backend,
                    task.task_path,
                    outcome,
                    status,
                    UNTIMED,
                    shard_for(task.worker_id or ""),
                    1,
                    0.0,
                )
            ],
        )


@dataclass(slots=True)
class TaskTotals:
    """One task's counts since counting began."""

    attempts: dict[tuple[str, str], int] = field(default_factory=dict)  # (outcome, status) -> n
    buckets: list[int] = field(default_factory=lambda: [0] * len(BUCKETS))  # cumulative
    seconds: float = 0.0  # durations of the timed attempts, added up

    def ended(self, *, outcome: str | None = None, status: str | None = None) -> int:
        """Attempts that ended with ``outcome`` and left the task in ``status`` (None: any)."""
        return sum(
            n
            for (o, s), n in self.attempts.items()
            if (outcome is None or o == outcome) and (status is None or s == status)
        )

    @property
    def timed(self) -> int:
        """Attempts in the histogram: those whose duration is known."""
        return self.buckets[-1]


def read(database: str, backend: str) -> dict[str, TaskTotals]:
    """Every task's counts for ``backend``, by task path (one query on a small table).

    Each count is the sum of its shards' rows.
    """
    totals: defaultdict[str, TaskTotals] = defaultdict(TaskTotals)
    rows = (
        models.TaskCounter.objects.using(database)
        .filter(backend=backend)
        .order_by()
        .values_list("task_path", "outcome", "status", "bucket")
        .annotate(Sum("attempts"), Sum("seconds"))  # over the shards
    )
    for task_path, outcome, status, bucket, attempts, seconds in rows:
        task = totals[task_path]
        key = (outcome, status)
        task.attempts[key] = task.attempts.get(key, 0) + attempts
        if bucket == UNTIMED:
            continue
        task.seconds += seconds
        # A bound dropped from BUCKETS since the row was written counts in
        # the next bound up: still "at most" that long.
        first = bisect.bisect_left(BUCKETS, bucket)
        for index in range(min(first, len(BUCKETS) - 1), len(BUCKETS)):
            task.buckets[index] += attempts
    return dict(sorted(totals.items()))
