"""Queue classes and how a worker shares its claims between its queues.

Pure: no models, no database. ``worker/prefetch.py`` asks
:class:`StrideScheduler` which lane to claim from next, and tells it what
each claim brought.

**Stride scheduling.** Each lane (a queue, or a group of queues claimed in
one statement) has a *pass*: the tasks claimed from it so far divided by
its weight. The next claim goes to the eligible lane with the lowest pass,
so while every lane has ready work, each gets claims in proportion to its
weight, and a lane of weight 0.1 still gets one claim whenever the others
have run ten times its share: never starved. A lane that comes back after
being empty starts at the current pass (it saves up no credit while idle).
"""

from __future__ import annotations

import enum
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass


class Queue(enum.StrEnum):
    """The four queue classes of ``OPTIONS["QUEUE_WEIGHTS"]``'s default.

    They are queues like any other: list them in the backend's ``QUEUES``
    to use them.
    """

    CRITICAL = "critical"
    HIGH = "high"
    DEFAULT = "default"
    LOW = "low"


DEFAULT_QUEUE_WEIGHTS: Mapping[str, float] = {
    Queue.CRITICAL: 100,
    Queue.HIGH: 10,
    Queue.DEFAULT: 1,
    Queue.LOW: 0.1,
}
# The weight of a queue that QUEUE_WEIGHTS does not name.
UNNAMED_QUEUE_WEIGHT = 1.0
# How old a slot's copy of the queue states (pauses, limit overrides) may
# get before it claims or starts a task.
STATE_REFRESH_SECONDS = 0.5
# A lane found empty (or at its queue limit) is skipped for this long, or
# until the slot next waits for work, whichever comes first.
EMPTY_RECHECK_SECONDS = 0.5


@dataclass(frozen=True, slots=True)
class Lane:
    """What one claim statement takes from.

    ``queues`` empty means every queue but ``excluded``. A lane with a
    ``limit`` is one queue whose running tasks, across all workers, may
    not exceed it: its claims are serialised in the database.
    """

    queues: tuple[str, ...]
    excluded: tuple[str, ...] = ()
    limit: int | None = None
    weight: float = UNNAMED_QUEUE_WEIGHT


def plan_lanes(
    queues: Sequence[str],
    *,
    weights: Mapping[str, float],
    limits: Mapping[str, int],
    paused: frozenset[str],
) -> list[Lane]:
    """The lanes of a worker serving ``queues`` (empty: every queue).

    A named queue is a lane of its own, unless paused. With every queue
    served, one lane takes all the queues that are neither paused nor
    limited, and each limited queue gets a lane of its own.
    """
    if queues:
        return [
            Lane((name,), limit=limits.get(name), weight=weights.get(name, UNNAMED_QUEUE_WEIGHT))
            for name in queues
            if name not in paused
        ]
    limited = sorted(name for name in limits if name not in paused)
    lanes = [Lane((), excluded=tuple(sorted(paused | set(limited))))]
    lanes += [
        Lane((name,), limit=limits[name], weight=weights.get(name, UNNAMED_QUEUE_WEIGHT))
        for name in limited
    ]
    return lanes


class StrideScheduler:
    """Chooses which lane a slot claims from next; see the module docstring."""

    def __init__(self) -> None:
        self.passes: dict[Lane, float] = {}
        self.empty_until: dict[Lane, float] = {}
        # Lanes found empty that have not given a task since: they rejoin
        # at the level of the busy lanes, with no credit saved up.
        self.idle: set[Lane] = set()

    def order(self, lanes: Sequence[Lane], now: float) -> list[Lane]:
        """The lanes worth trying now, next finishing first (ties: the heavier first)."""
        eligible = [lane for lane in lanes if self.empty_until.get(lane, 0.0) <= now]
        busy = [
            self.passes[lane] for lane in eligible if lane in self.passes and lane not in self.idle
        ]
        level = min(busy, default=0.0)
        for lane in eligible:
            if lane not in self.passes or lane in self.idle:
                # Once, as it rejoins; it is marked idle again if still empty.
                self.passes[lane] = max(self.passes.get(lane, 0.0), level)
                self.idle.discard(lane)
        return sorted(
            eligible, key=lambda lane: (self.passes[lane] + 1 / lane.weight, -lane.weight)
        )

    def batch_for(self, lane: Lane, candidates: Sequence[Lane], batch: int) -> int:
        """How many tasks to claim from ``lane``, out of a full ``batch``.

        In proportion to its weight against the heaviest lane worth trying,
        at least one: a lighter lane's claims stay small, so that one claim
        does not take more than its share at once.
        """
        heaviest = max(candidate.weight for candidate in candidates)
        return max(1, min(batch, math.floor(batch * lane.weight / heaviest)))

    def claimed(self, lane: Lane, count: int, now: float) -> None:
        """Charge ``lane`` for ``count`` tasks; a lane that gave none is skipped a while."""
        if count:
            self.passes[lane] = self.passes.get(lane, 0.0) + count / lane.weight
            self.empty_until.pop(lane, None)
        else:
            self.empty_until[lane] = now + EMPTY_RECHECK_SECONDS
            self.idle.add(lane)

    def woke(self) -> None:
        """The slot waited for work: every lane is worth trying again."""
        self.empty_until.clear()

    def keep_only(self, lanes: Sequence[Lane]) -> None:
        """Forget lanes no longer planned (a queue paused, a limit changed)."""
        kept = set(lanes)
        self.passes = {lane: value for lane, value in self.passes.items() if lane in kept}
        self.empty_until = {lane: t for lane, t in self.empty_until.items() if lane in kept}
        self.idle &= kept
