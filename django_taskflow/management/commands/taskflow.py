"""``manage.py taskflow <subcommand>``: operate django_taskflow.

Each subcommand is one function below, registered in ``add_arguments``;
new ones add a subparser and a handler.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import DatabaseError
from django.tasks import task_backends

from django_taskflow import schedules
from django_taskflow.exceptions import ConfigurationError


def _database(backend: str) -> str:
    """The database of TASKS[backend]; CommandError if it is not a django_taskflow backend."""
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
        return instance.config.database
    except ConfigurationError as exc:
        raise CommandError(str(exc)) from exc


class Command(BaseCommand):
    help = "Operate django_taskflow: `taskflow sync-schedules`, and more to come."

    def create_parser(self, prog_name: str, subcommand: str, **kwargs: Any) -> CommandParser:
        return super().create_parser(prog_name, subcommand, allow_abbrev=False, **kwargs)

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        commands = parser.add_subparsers(
            dest="subcommand", metavar="subcommand", required=True, parser_class=CommandParser
        )
        sync = commands.add_parser(
            "sync-schedules",
            help="write the schedules the code declares to the Schedule table",
            description="Create schedules the code declares, update changed ones and disable "
            "those it no longer declares. Schedules made in the admin or at run time are "
            "never touched. Workers do this when they start.",
        )
        sync.add_argument("--backend", default="default", help="TASKS alias (default: default)")
        sync.set_defaults(handler=self.sync_schedules)

    def handle(self, *args: Any, **options: Any) -> None:
        handler: Callable[..., None] = options["handler"]
        handler(**options)

    def sync_schedules(self, *, backend: str, **options: Any) -> None:
        database = _database(backend)
        try:
            report = schedules.sync(using=database)
        except DatabaseError as exc:
            raise CommandError(
                f"Cannot write schedules to database {database!r} ({exc}). "
                "Has `manage.py migrate` been run?"
            ) from exc
        for action in ("created", "updated", "disabled"):
            for name in getattr(report, action):
                self.stdout.write(f"{action}: {name}")
        for name in report.conflicts:
            self.stderr.write(
                f"not synced: {name} (a schedule made in the admin or at run time has this name)"
            )
        self.stdout.write(f"schedules: {report}")
