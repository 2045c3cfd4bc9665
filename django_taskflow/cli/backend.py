"""The ``--backend`` every subcommand takes: a django_taskflow backend in TASKS."""

from __future__ import annotations

from django.core.management.base import CommandError
from django.tasks import task_backends

from django_taskflow.conf import Options
from django_taskflow.exceptions import ConfigurationError


def backend_options(backend: str) -> Options:
    """The options of TASKS[backend]; CommandError if it is not a django_taskflow backend."""
    from django_taskflow.backend import TaskflowBackend

    if backend not in task_backends.settings:
        aliases = ", ".join(sorted(task_backends.settings))
        raise CommandError(f"--backend {backend!r} is not in TASKS. Aliases in TASKS: {aliases}.")
    instance = task_backends[backend]
    if not isinstance(instance, TaskflowBackend):
        raise CommandError(
            f"TASKS[{backend!r}] uses {type(instance).__name__}, not django_taskflow's backend."
        )
    try:
        return instance.config
    except ConfigurationError as exc:
        raise CommandError(str(exc)) from exc
