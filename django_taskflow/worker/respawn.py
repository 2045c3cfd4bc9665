"""When to start a dead slot process again: at once, or after a growing pause.

A slot that dies soon after it started is failing at start-up (a broken
import, a missing table): starting it again in a tight loop would only
burn CPU and fill the log. Each slot index has its own due time, which the
supervisor's watch loop checks between its other duties, so one slot's
pause never keeps the supervisor from watching and replacing the others.
"""

from __future__ import annotations

import logging
import time

logger = logging.getLogger(__name__)

# A slot that dies sooner than this after starting counts as dying young.
QUICK_DEATH_SECONDS = 10.0
MAX_RESPAWN_PAUSE_SECONDS = 60.0


class RespawnSchedule:
    """The slots waiting to be started again, and when each is due."""

    def __init__(self) -> None:
        self.quick_deaths: dict[int, int] = {}  # slot index -> deaths in a row
        self.due: dict[int, float] = {}  # slot index -> time.monotonic() to start it

    def __bool__(self) -> bool:
        return bool(self.due)

    def schedule(self, index: int, *, lived: float | None) -> None:
        """Slot ``index`` died after ``lived`` seconds (``None``: not its own
        fault, such as a hard limit its task ignored); start it again at once,
        or after a pause that doubles with each death in a row, up to 60 s."""
        young = lived is not None and lived < QUICK_DEATH_SECONDS
        deaths = self.quick_deaths.get(index, 0) + 1 if young else 0
        self.quick_deaths[index] = deaths
        pause = min(2.0 ** (deaths - 1), MAX_RESPAWN_PAUSE_SECONDS) if deaths else 0.0
        if pause:
            logger.warning(
                "slot %d died %d times soon after starting; restarting it in %.0f s",
                index,
                deaths,
                pause,
                extra={"action": "slot_restart_delayed"},
            )
        self.due[index] = time.monotonic() + pause

    def take_due(self) -> list[int]:
        """The slots whose time has come, removed from the schedule."""
        now = time.monotonic()
        ready = [index for index, due in self.due.items() if now >= due]
        for index in ready:
            del self.due[index]
        return ready

    def wait_at_most(self, interval: float) -> float:
        """How long the watch loop may sleep: ``interval``, or less if a slot is due sooner."""
        if not self.due:
            return interval
        return max(0.0, min(interval, min(self.due.values()) - time.monotonic()))

    def clear(self) -> None:
        self.due.clear()
