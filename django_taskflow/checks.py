"""System checks that span the project's settings, not one backend's OPTIONS.

Each ``TaskflowBackend`` checks its own ``OPTIONS`` (``backend.check``).
Here: is django_taskflow, installed as an app, used as a backend at all?
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core import checks
from django.utils.module_loading import import_string

TASKS_EXAMPLE = (
    'TASKS = {"default": {"BACKEND": "django_taskflow.backend.TaskflowBackend", '
    '"QUEUES": ["default"]}}'
)


def _is_taskflow_backend(path: Any) -> bool:
    from django_taskflow.backend import TaskflowBackend

    try:
        backend_class = import_string(path)
    except ImportError:
        return False  # Django reports a BACKEND that does not import
    return isinstance(backend_class, type) and issubclass(backend_class, TaskflowBackend)


@checks.register()
def check_tasks_setting(**kwargs: Any) -> list[checks.CheckMessage]:
    """Warn (taskflow.W001) when no backend in ``TASKS`` is a ``TaskflowBackend``."""
    tasks = getattr(settings, "TASKS", None) or {}
    if any(_is_taskflow_backend(config.get("BACKEND")) for config in tasks.values()):
        return []
    found = ", ".join(f"{alias!r}: {config.get('BACKEND')}" for alias, config in tasks.items())
    return [
        checks.Warning(
            "django_taskflow is in INSTALLED_APPS, but no backend in TASKS is a "
            f"TaskflowBackend ({found or 'TASKS is empty'}). Tasks run on that "
            "backend instead, and django_taskflow's options (max_attempts, retry, "
            "timeout...) are ignored.",
            hint=f"Set the backend in your settings, e.g. {TASKS_EXAMPLE}",
            obj="TASKS",
            id="taskflow.W001",
        )
    ]
