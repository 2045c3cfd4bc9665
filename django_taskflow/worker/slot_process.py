"""A slot process's side of the process pool: its entry point and its signals.

Slot processes ignore SIGTERM and SIGINT and obey only the supervisor's
relayed signals (SIGUSR1: drain, SIGUSR2: stop now), so a signal sent to
the whole process group (Ctrl-C, systemd, dumb-init) counts once, not twice.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from types import FrameType

from django_taskflow.worker.options import WorkerOptions
from django_taskflow.worker.recycling import EXIT_RECYCLED
from django_taskflow.worker.running_table import SharedRunningTable
from django_taskflow.worker.slot import Slot
from django_taskflow.worker.wakeup import SharedListener

DRAIN_SIGNAL = signal.SIGUSR1
STOP_NOW_SIGNAL = signal.SIGUSR2
# Blocked across fork until the child has its own handlers, so a signal that
# arrives in between waits instead of killing it or running ours in it.
FORK_BLOCKED = {DRAIN_SIGNAL, STOP_NOW_SIGNAL, signal.SIGTERM, signal.SIGINT}


def run_slot_process(
    options: WorkerOptions,
    index: int,
    table: SharedRunningTable,
    listener: SharedListener | None,
) -> None:
    """Entry point of a forked slot process."""
    stop = threading.Event()
    worker_id = options.slot_id(os.getpid())
    slot: Slot | None = None

    def on_drain(signum: int, frame: FrameType | None) -> None:
        stop.set()

    def on_stop_now(signum: int, frame: FrameType | None) -> None:
        stop.set()
        if slot is not None:
            slot.stop_now()  # interrupts the running task's own code, if it runs

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(DRAIN_SIGNAL, on_drain)
    signal.signal(STOP_NOW_SIGNAL, on_stop_now)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, FORK_BLOCKED)
    slot = Slot(
        options=options.backend_options,
        backend=options.backend,
        queues=options.queue_names,
        worker_id=worker_id,
        stop=stop,
        burst=options.burst,
        capabilities=options.capabilities,
        in_process=True,
        parent_pid=os.getppid(),
        marks=table.writer(index),
        waiter=listener.waiter_for(index, stop) if listener is not None else None,
        cancel_poke=listener.cancel_pipes[index] if listener is not None else None,
        recycling=options.recycling,
    )
    slot.run()
    if slot.recycled:
        sys.exit(EXIT_RECYCLED)
