"""Where a worker is in its stop, shared by the supervisor and its slot pool.

The first SIGTERM/SIGINT stops claiming and lets running tasks finish
within ``SHUTDOWN_GRACE_SECONDS``; a second signal, or the end of the
grace period, forces the stop, and what was running is handed back.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django_taskflow.worker.wakeup import WakePipe

# How often the watch loop looks at its slots when nothing wakes it.
WATCH_SECONDS = 0.2


@dataclass(slots=True)
class StopState:
    """When the stop was asked for, whether it is forced, and the watch loop's wake-up."""

    requested_at: float | None = None
    forced: bool = False
    signals: int = 0
    # A pipe, not an event: the watch loop waits on it and the LISTEN socket at once.
    wake: WakePipe = field(default_factory=WakePipe)
