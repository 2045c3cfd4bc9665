"""Helpers for your own tests: run queued tasks in the test's process."""

from __future__ import annotations

import threading
from collections.abc import Sequence

from django_taskflow.worker.options import WorkerOptions
from django_taskflow.worker.slot import Slot


def run_tasks(backend: str = "default", queues: Sequence[str] = ()) -> int:
    """Run every ready task in this thread, on this thread's connection; return how many.

    Works inside a test transaction (the worker sees the test's uncommitted
    rows). Tasks retried with a delay are not waited for. Raises
    ``ConfigurationError`` if ``backend`` is not a django_taskflow backend.
    """
    options = WorkerOptions(backend=backend, queues=tuple(queues))
    slot = Slot(
        options=options.backend_options,
        backend=backend,
        queues=options.queue_names,
        worker_id=f"test:{threading.get_ident()}",
        stop=threading.Event(),
        burst=True,
        inline=True,
    )
    slot.run()
    return slot.processed


__all__ = ["run_tasks"]
