"""The worker: ``manage.py taskworker`` builds a :class:`Worker` and runs it."""

from __future__ import annotations

from django_taskflow.worker.options import WorkerOptions
from django_taskflow.worker.supervisor import Worker

__all__ = ["Worker", "WorkerOptions"]
