"""The supervisor's watch loop, with stand-in slot processes."""

from __future__ import annotations

import os
import signal
import threading
import time
from typing import Any

import pytest

from django_taskflow.worker import process_pool, supervisor
from django_taskflow.worker.options import WorkerOptions
from tests.conftest import wait_for


def crash_loop_first_slot(options: WorkerOptions, index: int, *args: Any) -> None:
    """Slot 0 dies at once, every time; the others run until killed."""
    if index == 0:
        os._exit(1)
    time.sleep(60)


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # fork() with the loop's thread alive
def test_a_slot_waiting_out_its_respawn_pause_does_not_blind_the_supervisor(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(process_pool.slot_process, "run_slot_process", crash_loop_first_slot)
    worker = supervisor.Worker(WorkerOptions(concurrency=2, scheduler=False, services=False))
    pool = worker.pool
    assert isinstance(pool, process_pool.ProcessPool)
    monkeypatch.setattr(pool, "_recover", lambda *args, **kwargs: None)
    monkeypatch.setattr(worker, "_keep_presence", lambda *args: None)  # no database here
    worker.duties.active.clear()  # nor its duties (pruning turns need the database)
    loop = threading.Thread(target=worker._watch, daemon=True)
    loop.start()
    try:
        # Three quick deaths: slot 0 now waits 4 s before its next start.
        wait_for(lambda: pool.respawns.quick_deaths.get(0, 0) >= 3, timeout=20)
        healthy = pool.children[1].process.pid
        os.kill(healthy, signal.SIGKILL)

        replaced = wait_for(
            lambda: pool.children[1].process.pid != healthy and pool.children[1].process.pid,
            timeout=2,
        )
        assert pool.respawns.quick_deaths[0] >= 3  # still within slot 0's pause
    finally:
        worker.state.requested_at = time.monotonic()
        worker.state.wake.set()
        for child in pool.children:
            if child.process.is_alive():
                os.kill(child.process.pid, signal.SIGKILL)
        loop.join(timeout=10)
    assert replaced and not loop.is_alive()
