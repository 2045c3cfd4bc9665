"""Two middleware to use as they are or as examples.

```python
TASKS = {"default": {
    "BACKEND": "django_taskflow.backend.TaskflowBackend",
    "OPTIONS": {"MIDDLEWARE": [
        "django_taskflow.contrib.middleware.LoggingMiddleware",
        "django_taskflow.contrib.middleware.MetricsMiddleware",
    ]},
}}
```
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.tasks import Task

from django_taskflow.execution.context import TaskContext

logger = logging.getLogger("django_taskflow.tasks")


class LoggingMiddleware:
    """Log every execution as one structured line, with its duration and outcome."""

    def __call__(
        self, task: Task[Any, Any], context: TaskContext, call_next: Callable[[], Any]
    ) -> Any:
        started = time.perf_counter()
        extra = {
            "task_id": context.task_id,
            "task": task.module_path,
            "attempt": context.attempt,
            "worker_id": context.worker_id,
        }
        try:
            result = call_next()
        except BaseException as exc:
            duration = time.perf_counter() - started
            logger.warning(
                "%s attempt %d raised %s after %.3f s",
                task.module_path,
                context.attempt,
                type(exc).__name__,
                duration,
                extra={**extra, "action": "task_raised", "duration": duration},
            )
            raise
        duration = time.perf_counter() - started
        logger.info(
            "%s attempt %d returned after %.3f s",
            task.module_path,
            context.attempt,
            duration,
            extra={**extra, "action": "task_returned", "duration": duration},
        )
        return result


@dataclass(slots=True)
class TaskMetrics:
    """Counts and total time of one task's executions in this process."""

    calls: int = 0
    errors: int = 0
    total_seconds: float = 0.0
    max_seconds: float = 0.0


class MetricsMiddleware:
    """Count executions, errors and time per task, in this process.

    ``MetricsMiddleware.snapshot()`` returns the figures, for a metrics
    endpoint or an exporter to read; every instance shares them.
    """

    _lock = threading.Lock()
    _metrics: dict[str, TaskMetrics] = {}

    def __call__(
        self, task: Task[Any, Any], context: TaskContext, call_next: Callable[[], Any]
    ) -> Any:
        started = time.perf_counter()
        failed = False
        try:
            return call_next()
        except BaseException:
            failed = True
            raise
        finally:
            elapsed = time.perf_counter() - started
            with self._lock:
                metrics = self._metrics.setdefault(task.module_path, TaskMetrics())
                metrics.calls += 1
                metrics.errors += failed
                metrics.total_seconds += elapsed
                metrics.max_seconds = max(metrics.max_seconds, elapsed)

    @classmethod
    def snapshot(cls) -> dict[str, TaskMetrics]:
        """A copy of the figures so far, by task path."""
        with cls._lock:
            return {path: TaskMetrics(**vars_of(m)) for path, m in cls._metrics.items()}

    @classmethod
    def reset(cls) -> None:
        with cls._lock:
            cls._metrics.clear()


def vars_of(metrics: TaskMetrics) -> dict[str, Any]:
    return {name: getattr(metrics, name) for name in TaskMetrics.__slots__}
