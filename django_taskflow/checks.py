"""System checks that span the project's settings, not one backend's OPTIONS.

Each ``TaskflowBackend`` checks its own ``OPTIONS`` (``backend.check``).
Here: is django_taskflow, installed as an app, used as a backend at all?
And do the task definitions' options agree with their backend's settings?
A bad option on its own raises when the task is defined
(``definition.validate_options``); only what settings reveal is here.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core import checks
from django.tasks.exceptions import InvalidTaskBackend
from django.utils.module_loading import import_string

from django_taskflow import registry
from django_taskflow.durations import format_duration
from django_taskflow.exceptions import ConfigurationError

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


@checks.register()
def check_task_options(**kwargs: Any) -> list[checks.CheckMessage]:
    """Check each known task definition's options against its backend's OPTIONS.

    taskflow.W004: a ``dedup`` TTL (without debounce) outlasts a
    ``RETENTION``: once the task is pruned, its key is free, so an
    identical call within the TTL enqueues again.
    """
    from django_taskflow.backend import TaskflowBackend
    from django_taskflow.definition import TaskflowTask

    messages: list[checks.CheckMessage] = []
    for definition in registry.definitions():
        if not isinstance(definition, TaskflowTask) or definition.dedup is None:
            continue
        try:
            backend = definition.get_backend()
        except InvalidTaskBackend:
            continue  # no such alias in TASKS (now): nothing to compare with
        if not isinstance(backend, TaskflowBackend):
            continue
        try:
            kept = backend.config.retention
        except ConfigurationError:
            continue  # reported by the backend's own check (taskflow.E002)
        if definition.dedup.debounce is not None or not kept:
            continue  # a debounced key frees once its task starts anyway
        status, shortest = min(kept.items(), key=lambda item: item[1])
        if timedelta(seconds=definition.dedup.ttl) <= shortest:
            continue
        setting = f"TASKS[{definition.backend!r}]['OPTIONS']['RETENTION']"
        messages.append(
            checks.Warning(
                f"Task {definition.module_path} deduplicates for "
                f"{format_duration(timedelta(seconds=definition.dedup.ttl))}, longer than {setting} keeps "
                f"{status} tasks ({format_duration(shortest)}). Once its task "
                "is pruned, the key is free: an identical call within the TTL enqueues "
                "another task.",
                hint=f"Keep {status} tasks at least as long as the TTL, or shorten the TTL.",
                obj=definition.module_path,
                id="taskflow.W004",
            )
        )
    return messages
