"""What a worker was asked to do, validated once."""

from __future__ import annotations

import socket
from dataclasses import dataclass
from typing import Literal

from django.tasks import task_backends

from django_taskflow.conf import Options
from django_taskflow.exceptions import ConfigurationError
from django_taskflow.logs import LogFormat
from django_taskflow.worker.recycling import Recycling

type Pool = Literal["process", "thread"]


@dataclass(frozen=True, slots=True, kw_only=True)
class WorkerOptions:
    """How one ``taskworker`` runs: which backend and queues, how many slots."""

    backend: str = "default"
    queues: tuple[str, ...] = ()
    concurrency: int = 1
    pool: Pool = "process"
    burst: bool = False
    name: str = ""
    # What this worker offers: it runs a task only if it offers all the task requires.
    capabilities: frozenset[str] = frozenset()
    # Fire due schedules (scheduler.py) from the supervisor loop.
    scheduler: bool = True
    # Replace a slot after it ran this many tasks, or once its process uses
    # more than this many MB (process pool only): see worker/recycling.py.
    max_tasks_per_slot: int | None = None
    max_memory_per_slot: int | None = None
    # Host long-running services (worker/service_hosting.py), at most this many at once.
    services: bool = True
    max_services: int = 4
    # How the worker's log is set up (logs.configure), for the processes it spawns.
    log_format: LogFormat | None = None
    verbosity: int = 1

    def __post_init__(self) -> None:
        if self.concurrency < 1:
            raise ConfigurationError(f"concurrency must be at least 1, got {self.concurrency}.")
        if self.pool not in ("process", "thread"):
            raise ConfigurationError(f"pool must be 'process' or 'thread', got {self.pool!r}.")
        if self.max_services < 1:
            raise ConfigurationError(f"max_services must be at least 1, got {self.max_services}.")
        recycling = self.recycling  # validates both limits
        if recycling.max_memory_mb is not None and self.pool == "thread":
            raise ConfigurationError(
                "max_memory_per_slot needs the process pool: the thread pool's slots share "
                "one process, whose memory no single slot can give back."
            )

    @property
    def recycling(self) -> Recycling:
        return Recycling(max_tasks=self.max_tasks_per_slot, max_memory_mb=self.max_memory_per_slot)

    @property
    def backend_options(self) -> Options:
        from django_taskflow.backend import TaskflowBackend

        backend = task_backends[self.backend]
        if not isinstance(backend, TaskflowBackend):
            raise ConfigurationError(
                f"TASKS[{self.backend!r}] uses {type(backend).__name__}; taskworker needs "
                "'django_taskflow.backend.TaskflowBackend'."
            )
        return backend.config

    @property
    def queue_names(self) -> tuple[str, ...]:
        """The queues to take work from: those given, else the backend's QUEUES.

        Empty when neither names any: the backend accepts every queue name,
        so the worker takes from every queue.
        """
        return self.queues or tuple(sorted(task_backends[self.backend].queues))

    @property
    def host(self) -> str:
        """The host part of worker ids: ``--name`` if given, else the host name."""
        return (self.name or socket.gethostname())[:60]

    def slot_id(self, pid: int, index: int | None = None) -> str:
        """The worker id written on claimed rows: host, process, and thread slot."""
        return f"{self.host}:{pid}" if index is None else f"{self.host}:{pid}:{index}"
