"""``manage.py taskflow <subcommand>``: operate django_taskflow from a shell.

This module builds the parser and dispatches. Each subcommand's handler
lives in ``django_taskflow/cli/`` (``tasks``, ``actions``, ``queues``,
``maintenance``, ``schedules``, ``alerts``): it checks input (``cli/arguments.py``),
calls ``operations`` or a read-only query, and prints through
``cli/output.py``: a table, or JSON with ``--json``. Errors are
``CommandError`` (exit code 1; 2 for bad usage); ``health`` exits 3 when
unhealthy. The shell is trusted as the operator is: no permission checks.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import DatabaseError

from django_taskflow.cli import (
    actions,
    alerts,
    arguments,
    keys,
    maintenance,
    queues,
    schedules,
    services,
    tasks,
)
from django_taskflow.cli.output import Printer
from django_taskflow.exceptions import TaskflowError

SUBCOMMANDS = (
    "list, show, cancel, requeue, retry, stats, workers, prune, health, pause, resume, limit, "
    "purge-queue, sync-schedules, run-schedule, alerts, rotate-keys, services"
)


class Command(BaseCommand):
    help = (
        f"Operate django_taskflow: {SUBCOMMANDS}. "
        "`manage.py taskflow <subcommand> --help` for each."
    )

    def create_parser(self, prog_name: str, subcommand: str, **kwargs: Any) -> CommandParser:
        return super().create_parser(prog_name, subcommand, allow_abbrev=False, **kwargs)

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        commands = parser.add_subparsers(
            dest="subcommand", metavar="subcommand", required=True, parser_class=CommandParser
        )
        verbosity = CommandParser(add_help=False)
        # Also after the subcommand (`taskflow list -v 0`); SUPPRESS keeps a
        # value given before it.
        verbosity.add_argument(
            "-v", "--verbosity", type=int, choices=[0, 1, 2, 3], default=argparse.SUPPRESS,
            help="0: minimal output, 1: normal, 2: tracebacks in show",
        )  # fmt: skip
        common = CommandParser(add_help=False, parents=[verbosity])
        common.add_argument("--backend", default="default", help="TASKS alias (default: default)")
        json_flag = CommandParser(add_help=False)
        json_flag.add_argument("--json", action="store_true", help="print JSON, for scripts")
        dry_run = CommandParser(add_help=False)
        dry_run.add_argument("--dry-run", action="store_true", help="count, change nothing")
        both = [common, json_flag]

        def add(
            name: str, handler: Callable[..., None], help: str, parents: list[Any] = both
        ) -> Any:
            # Subparsers do not inherit allow_abbrev: `--dry` must not pass for `--dry-run`.
            sub = commands.add_parser(
                name, help=help, description=help, parents=parents, allow_abbrev=False
            )
            sub.set_defaults(handler=handler)
            return sub

        listing = add("list", tasks.list_tasks, "list tasks, newest first")
        self._add_filters(listing, status_type=arguments.statuses, dates=True)
        listing.add_argument(
            "--limit", type=arguments.positive_int, default=50, help="most rows (default 50)"
        )
        show = add("show", tasks.show, "a task, its attempts and its events")
        show.add_argument("task_id", type=arguments.task_id, metavar="ID")

        for name, handler, text, status_type in (
            ("cancel", actions.cancel,
             "cancel queued tasks and ask running ones to stop, by id or by filter",
             arguments.cancellable_statuses),
            ("requeue", actions.requeue,
             "enqueue a new task with the same inputs for each finished task, by id or by filter "
             "(by filter: finished tasks unless --status)",
             arguments.requeuable_statuses),
            ("retry", actions.retry,
             "run failed tasks again now with one more attempt, and queued ones waiting for "
             "their run_after, by id or by filter (by filter: failed tasks unless --status)",
             arguments.retriable_statuses),
        ):  # fmt: skip
            action = add(name, handler, text, [*both, dry_run])
            action.add_argument("task_ids", type=arguments.task_id, nargs="*", metavar="ID")
            self._add_filters(action, status_type=status_type, dates=False)
            if name == "cancel":
                action.add_argument("--reason", default="", help="stored with each task")

        add("stats", maintenance.stats, "counts by status and queue, oldest ready task, throughput")
        add("workers", maintenance.workers, "each worker: host, pid, queues, slots, running tasks, "
            "heartbeat, alive or gone")  # fmt: skip
        prune = add(
            "prune",
            maintenance.prune,
            "delete finished tasks with their attempts and events, in short chunks",
            [*both, dry_run],
        )
        prune.add_argument(
            "--older-than",
            type=arguments.duration,
            help="age of finish to delete past, e.g. 30d; default: OPTIONS['RETENTION']",
        )
        prune.add_argument(
            "--status",
            type=arguments.finished_statuses,
            help="with --older-than: succeeded, failed, cancelled (default: all three)",
        )
        prune.add_argument(
            "--chunk-size",
            type=arguments.positive_int,
            default=None,
            help="tasks per transaction (default 500 on PostgreSQL, 100 on SQLite)",
        )
        health = add(
            "health",
            maintenance.health,
            "check the database, migrations, workers and the oldest ready task; "
            f"exit code 0 when healthy, {maintenance.UNHEALTHY_EXIT_CODE} when not",
        )
        health.add_argument(
            "--max-ready-age",
            type=arguments.seconds,
            help="seconds (or 5m…) a ready task may wait; "
            "default OPTIONS['HEALTH_MAX_READY_AGE_SECONDS']",
        )

        add("pause", queues.pause, "stop workers from starting tasks of a queue"
            ).add_argument("queue")  # fmt: skip
        add("resume", queues.resume, "let workers start tasks of a paused queue again"
            ).add_argument("queue")  # fmt: skip
        limit = add("limit", queues.limit, "cap a queue's running tasks")
        limit.add_argument("queue")
        limit.add_argument(
            "limit", type=arguments.queue_limit, help="most at once, or none for the setting's"
        )
        add("purge-queue", queues.purge_queue,
            "delete every queued task of a queue (running ones finish)",
            [*both, dry_run]).add_argument("queue")  # fmt: skip

        sync = add(
            "sync-schedules",
            schedules.sync_schedules,
            "write the schedules the code declares to the Schedule table",
        )
        sync.description = (
            "Create schedules the code declares, update changed ones and disable "
            "those it no longer declares. Schedules made in the admin or at run time are "
            "never touched. Workers do this when they start."
        )
        run = add(
            "run-schedule",
            schedules.run_schedule,
            "enqueue one run of each schedule named, now, whatever its timing (the admin's "
            "run now)",
        )
        run.add_argument("names", nargs="+", metavar="NAME", help="a schedule's name")
        rotate = add(
            "rotate-keys",
            keys.rotate_keys,
            "re-encrypt tasks written with an older key under the first of ENCRYPTION_KEYS, "
            "in batches, while workers run",
        )
        rotate.add_argument(
            "--batch-size", type=arguments.positive_int, default=200,
            help="tasks per transaction (default 200)",
        )  # fmt: skip
        rotate.add_argument(
            "--wait", type=arguments.seconds, default=300.0,
            help="how long to wait for running tasks under an old key to end (default 300 s)",
        )  # fmt: skip

        alerting = add(
            "alerts",
            alerts.alerts,
            "evaluate the alert rules once, as a worker does (sharing its turn), send what "
            "opened or resolved, and list the open incidents",
        )
        alerting.add_argument(
            "--no-evaluate",
            dest="evaluate",
            action="store_false",
            help="only list the open incidents",
        )

        group = add(
            "services",
            services.list_services,
            "long-running services: list, show, stop, restart (`taskflow services --help`)",
            [],
        )
        self._add_services(group, [verbosity, json_flag])

    @staticmethod
    def _add_services(parser: argparse.ArgumentParser, parents: list[Any]) -> None:
        """``taskflow services <action>``; services live in the default backend's database."""
        from django_taskflow.models import ServiceState  # the models load after the apps

        actions = parser.add_subparsers(
            dest="action", metavar="action", required=True, parser_class=CommandParser
        )

        def add(name: str, handler: Callable[..., None], help: str) -> Any:
            sub = actions.add_parser(
                name, help=help, description=help, parents=parents, allow_abbrev=False
            )
            sub.set_defaults(handler=handler)
            return sub

        listing = add("list", services.list_services, "services by name, with state, owner, "
                      "backlog, dead messages and restarts")  # fmt: skip
        listing.add_argument("--state", choices=ServiceState.values, help="only this state")
        listing.add_argument(
            "--limit", type=arguments.positive_int, default=100, help="most rows (default 100)"
        )
        show = add("show", services.show, "a service's status, errors and latest events")
        show.add_argument("name", metavar="NAME")
        show.add_argument(
            "--events", type=arguments.positive_int, default=20, help="latest events (default 20)"
        )
        add("stop", services.stop, "ask a service to stop: its owner calls on_stop once"
            ).add_argument("name", metavar="NAME")  # fmt: skip
        add("restart", services.restart, "start a stopped or failed service again with its "
            "config").add_argument("name", metavar="NAME")  # fmt: skip

    @staticmethod
    def _add_filters(
        parser: argparse.ArgumentParser, *, status_type: Callable[[str], list[str]], dates: bool
    ) -> None:
        parser.add_argument(
            "--status", type=status_type, help="comma-separated, e.g. queued,running"
        )
        parser.add_argument("--name", help="task path, or a function name one task has")
        parser.add_argument("--queue")
        parser.add_argument("--tag")
        if dates:
            parser.add_argument(
                "--since", type=arguments.moment, help="enqueued since: 2h (ago) or an ISO date"
            )
            parser.add_argument(
                "--until", type=arguments.moment, help="enqueued before: 2h (ago) or an ISO date"
            )

    def handle(self, *args: Any, **options: Any) -> None:
        handler: Callable[..., None] = options.pop("handler")
        options.pop("action", None)  # `taskflow services <action>`: the handler says it
        for stream in ("stdout", "stderr"):  # given to call_command(); already self.stdout...
            options.pop(stream, None)
        out = Printer(
            stdout=self.stdout,
            stderr=self.stderr,
            as_json=options.pop("json", False),
            verbosity=options["verbosity"],
        )
        try:
            handler(out, **options)
        except TaskflowError as exc:
            raise CommandError(str(exc)) from exc
        except DatabaseError as exc:
            raise CommandError(
                f"The database failed: {exc}. Has `manage.py migrate` been run?"
            ) from exc
