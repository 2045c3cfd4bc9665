"""Find a process's descendants (Linux ``/proc``), to check none is left behind."""

from __future__ import annotations

import contextlib
import os
import signal
from pathlib import Path


def parent_pids() -> dict[int, int]:
    """Map every running process id to its parent's id."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:  # it exited while we looked
            continue
        # The command name (2nd field) is in parentheses and may hold spaces.
        fields = stat.rsplit(")", 1)[1].split()
        if fields[0] != "Z":  # a zombie has exited; only its parent's wait() is missing
            parents[int(entry.name)] = int(fields[1])
    return parents


def descendants(pid: int) -> set[int]:
    """Return the ids of the live processes below ``pid``, at any depth."""
    parents = parent_pids()
    found: set[int] = set()
    frontier = {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def is_alive(pid: int) -> bool:
    """Whether ``pid`` is a live process (not a zombie)."""
    return pid in parent_pids()


def kill_all(pids: set[int]) -> None:
    """SIGKILL each of ``pids`` that is still there (test clean-up)."""
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
