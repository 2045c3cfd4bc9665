"""Enqueue one call from many threads at once, in a process of its own.

Run by ``test_dedup_processes.py``: ``python -m tests.processes.enqueue_burst
TASK THREADS READY_FILE GO_FILE``, with ``DATABASE_URL`` set to the test
database. Each thread connects first; the process then creates READY_FILE
and every thread enqueues as soon as GO_FILE exists. Prints one JSON line
per enqueue: ``[task id, deduplicated]``.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from pathlib import Path


def main(task_name: str, thread_count: int, ready: Path, go: Path) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "testproject.settings")
    import django

    django.setup()
    from django.db import connection

    from tests import tasks

    definition = getattr(tasks, task_name)
    arguments = {
        "deduplicated_add": (1000, 1),
        "unique_add": (1000, 1),
        "debounced_record": (1000, "burst", os.devnull),
    }[task_name]
    answers: list[tuple[str, bool]] = []
    lock = threading.Lock()
    connected = threading.Barrier(thread_count + 1)

    def enqueue_once() -> None:
        connection.ensure_connection()
        connected.wait()
        while not go.exists():
            time.sleep(0.001)
        result = definition.enqueue(*arguments)
        with lock:
            answers.append((result.id, result.deduplicated))
        connection.close()

    threads = [threading.Thread(target=enqueue_once) for _ in range(thread_count)]
    for thread in threads:
        thread.start()
    connected.wait()
    ready.touch()
    for thread in threads:
        thread.join()
    for answer in answers:
        sys.stdout.write(json.dumps(answer) + "\n")


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), Path(sys.argv[3]), Path(sys.argv[4]))
