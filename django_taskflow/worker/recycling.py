"""When a slot should make way for a fresh one: after N tasks, or past a memory size.

For task code that leaks (memory, file handles, module state): with
``taskworker --max-tasks-per-slot N`` or ``--max-memory-per-slot MB``, a
slot checks after each task it ran. Once past either limit it stops
claiming, lets its recorder write what it finished, hands back what it
prefetched (uncharged, like a graceful stop) and exits with
``EXIT_RECYCLED``; its supervisor starts a replacement at once. The task
that ran is never interrupted: a slot is replaced between tasks only.

Memory is the slot process's resident set size now (``/proc/self/statm``),
not its peak: a slot that freed what it used does not count as leaking.
Where ``/proc`` is missing, the peak (``getrusage``) stands in.
"""

from __future__ import annotations

import os
import resource
import sys
from dataclasses import dataclass

from django_taskflow.exceptions import ConfigurationError

# Exit code of a slot process that stopped to be replaced (not a failure).
EXIT_RECYCLED = 4

_MB = 1024 * 1024


@dataclass(frozen=True, slots=True, kw_only=True)
class Recycling:
    """A slot's limits; ``None`` is no limit."""

    max_tasks: int | None = None
    max_memory_mb: int | None = None

    def __post_init__(self) -> None:
        for option, value in (
            ("max_tasks_per_slot", self.max_tasks),
            ("max_memory_per_slot", self.max_memory_mb),
        ):
            if value is not None and (type(value) is not int or value < 1):
                raise ConfigurationError(
                    f"{option} must be a whole number of at least 1, got {value!r}."
                )

    @property
    def is_enabled(self) -> bool:
        return self.max_tasks is not None or self.max_memory_mb is not None

    def reason(self, processed: int) -> str | None:
        """Why a slot that ran ``processed`` tasks should be replaced now, if it should."""
        if self.max_tasks is not None and processed >= self.max_tasks:
            return f"it ran {processed} tasks (--max-tasks-per-slot {self.max_tasks})"
        if self.max_memory_mb is not None:
            used = resident_memory_mb()
            if used > self.max_memory_mb:
                return f"it uses {used:.0f} MB (--max-memory-per-slot {self.max_memory_mb})"
        return None


NO_RECYCLING = Recycling()


def resident_memory_mb() -> float:
    """This process's resident memory now, in MB (its peak where /proc is missing)."""
    try:
        with open("/proc/self/statm", "rb") as statm:
            resident_pages = int(statm.read().split()[1])
        return resident_pages * os.sysconf("SC_PAGE_SIZE") / _MB
    except (OSError, ValueError, IndexError):
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return peak / _MB if sys.platform == "darwin" else peak / 1024  # bytes there, KiB here
