"""A slot's view of its queues: which to claim from next, which are held back.

The slot re-reads the queue states (``queue_state.read``: paused queues,
limit overrides) at most every ``STATE_REFRESH_SECONDS``, before a claim,
so an operator's change reaches every worker within about a second
without a restart. Its lanes (``queues.plan_lanes``) follow from the
states, and ``queues.StrideScheduler`` picks the next lane by weight.

A worker serving one queue that has no limit has one lane: it claims
with one statement, as it always did.
"""

from __future__ import annotations

import logging
import math
import time
from collections import Counter
from collections.abc import Callable, Collection

from django_taskflow import queue_state
from django_taskflow.claim import ClaimedTask
from django_taskflow.conf import Options
from django_taskflow.queues import STATE_REFRESH_SECONDS, Lane, StrideScheduler, plan_lanes

logger = logging.getLogger(__name__)

type ClaimFrom = Callable[[Lane, int], list[ClaimedTask]]


class QueueControl:
    """Chooses what each claim of one slot takes, by weight, pause and limit."""

    def __init__(self, *, options: Options, backend: str, queues: Collection[str]) -> None:
        self.options = options
        self.backend = backend
        self.queues = tuple(queues)
        self.scheduler = StrideScheduler()
        self.states = queue_state.QueueStates(limits=dict(options.queue_limits))
        self.read_at = -math.inf
        self.lanes = self._plan()
        # The slot has just waited (or started): the next claim looks at
        # every unlimited queue at once.
        self.woken = True

    def refresh(self) -> frozenset[str]:
        """Re-read the queue states if they are old; return the queues newly paused."""
        now = time.monotonic()
        if now - self.read_at < STATE_REFRESH_SECONDS:
            return frozenset()
        states = queue_state.read(self.options, self.backend)
        self.read_at = now
        newly_paused = states.paused - self.states.paused
        if states != self.states:
            logger.debug(
                "queue states changed: paused %s, limits %s",
                sorted(states.paused),
                dict(states.limits),
                extra={"action": "queue_states_read"},
            )
            self.states = states
            self.lanes = self._plan()
            self.scheduler.keep_only(self.lanes)
        return newly_paused

    def claim(self, batch: int, claim_from: ClaimFrom) -> list[ClaimedTask]:
        """Claim from the lanes in the scheduler's order until one gives tasks.

        Right after a wait, the queues without a limit are claimed from in
        one statement first: which of them the new work is in is unknown,
        and one empty claim per queue would delay it by as many round
        trips. Each task is charged to its own queue's lane; when that
        statement took less than a batch, the queues it found empty are
        not tried again one by one.
        """
        now = time.monotonic()
        if self.woken:
            self.woken = False
            claimed = self._claim_after_waiting(batch, claim_from, now)
            if claimed:
                return claimed
        candidates = self.scheduler.order(self.lanes, now)
        for index, lane in enumerate(candidates):
            # Scaled against the lanes not yet found empty: an empty heavy
            # queue must not shrink a light one's batch.
            size = self.scheduler.batch_for(lane, candidates[index:], batch)
            claimed = claim_from(lane, size)
            self.scheduler.claimed(lane, len(claimed), now)
            if claimed:
                return claimed
        return []

    def woke(self) -> None:
        """The slot waited for work: try every lane again."""
        self.scheduler.woke()
        self.woken = True

    def _claim_after_waiting(
        self, batch: int, claim_from: ClaimFrom, now: float
    ) -> list[ClaimedTask]:
        by_queue = {
            lane.queues[0]: lane
            for lane in self.lanes
            if lane.limit is None and len(lane.queues) == 1
        }
        if len(by_queue) < 2:
            return []  # one lane: the usual claim is that one statement
        claimed = claim_from(Lane(tuple(sorted(by_queue))), batch)
        counts = Counter(task.queue_name for task in claimed)
        for name, count in counts.items():
            self.scheduler.claimed(by_queue[name], count, now)
        if len(claimed) < batch:
            # It took all there was: the queues that gave nothing are empty, and
            # claiming from each in turn now would only repeat the answer (idle
            # slots woken together did, one empty round trip per queue each).
            for name, lane in by_queue.items():
                if name not in counts:
                    self.scheduler.claimed(lane, 0, now)
        return claimed

    def served(self) -> tuple[tuple[str, ...], tuple[str, ...]] | None:
        """The queues to claim limited (gated) work from, and those to leave out.

        Paused queues are left out; None when every queue served is paused.
        An empty first item means every queue but the second's.
        """
        paused = self.states.paused
        if not self.queues:
            return (), tuple(sorted(paused))
        open_queues = tuple(name for name in self.queues if name not in paused)
        return (open_queues, ()) if open_queues else None

    def wait_seconds(self, poll_interval: float) -> float:
        """How long an idle slot may wait: shorter while a pause or a limit holds work back.

        A task finishing elsewhere, which frees room under a limit, sends
        no wake-up; so do not sleep past the next refresh.
        """
        paused = self.states.paused
        if self.queues:
            paused = paused & set(self.queues)
        if paused or any(lane.limit is not None for lane in self.lanes):
            return min(poll_interval, STATE_REFRESH_SECONDS)
        return poll_interval

    def _plan(self) -> list[Lane]:
        return plan_lanes(
            self.queues,
            weights=self.options.queue_weights,
            limits=self.states.limits,
            paused=self.states.paused,
        )
