"""``manage.py taskworker``: run tasks from the queue."""

from __future__ import annotations

import argparse
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import DatabaseError, connections
from django.tasks import task_backends

from django_taskflow import logs, models, queue_state, registry, schedules
from django_taskflow.conf import Options
from django_taskflow.definition import is_capability
from django_taskflow.exceptions import ConfigurationError
from django_taskflow.queues import UNNAMED_QUEUE_WEIGHT
from django_taskflow.worker import Worker, WorkerOptions, reload, system_checks


def positive_int(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number, got {value!r}") from None
    if number < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {number}")
    return number


def queue_list(value: str) -> tuple[str, ...]:
    queues = tuple(name.strip() for name in value.split(",") if name.strip())
    if not queues:
        raise argparse.ArgumentTypeError(
            "give at least one queue name, e.g. --queues default,emails"
        )
    return queues


def capability_list(value: str) -> frozenset[str]:
    names = [name.strip() for name in value.split(",")]
    if not any(names):
        raise argparse.ArgumentTypeError("give at least one capability, e.g. --capabilities gpu")
    bad = [name for name in names if name and not is_capability(name)]
    if bad:
        raise argparse.ArgumentTypeError(f"not a capability name: {bad[0]!r}")
    return frozenset(name for name in names if name)


def describe_queues(
    queues: tuple[str, ...], options: Options, states: queue_state.QueueStates
) -> list[str]:
    """The banner's lines about queues: weights, pauses and limits in force."""
    served = queues or tuple(sorted(states.limits))
    lines = []
    if len(queues) > 1:
        weights = ", ".join(
            f"{name} {options.queue_weights.get(name, UNNAMED_QUEUE_WEIGHT):g}" for name in queues
        )
        lines.append(f"  weights:     {weights}")
    paused = sorted(states.paused if not queues else states.paused & set(queues))
    lines.append(f"  paused:      {', '.join(paused) or '(none)'}")
    limits = []
    for name in served:
        if name in states.limits:
            setting = options.queue_limits.get(name)
            if name in states.overrides:
                limits.append(f"{name} {states.limits[name]} (set at run time; setting: {setting})")
            else:
                limits.append(f"{name} {states.limits[name]}")
    lines.append(f"  limits:      {', '.join(limits) or '(none)'}")
    return lines


def describe_recycling(options: WorkerOptions) -> str:
    """The banner's line about slot recycling."""
    limits = []
    if options.max_tasks_per_slot is not None:
        limits.append(f"after {options.max_tasks_per_slot} tasks")
    if options.max_memory_per_slot is not None:
        limits.append(f"past {options.max_memory_per_slot} MB")
    return f"a slot is replaced {' or '.join(limits)}" if limits else "off"


def describe_services(options: WorkerOptions) -> str:
    """The banner's line about hosting services."""
    if not options.services:
        return "off (--no-services)"
    if options.burst:
        return "off (--burst)"
    return f"up to {options.max_services} at once, in a process of their own"


class Command(BaseCommand):
    help = "Run queued tasks: claim, execute, record; Ctrl-C or SIGTERM stops gracefully."

    def create_parser(self, prog_name: str, subcommand: str, **kwargs: Any) -> CommandParser:
        # No abbreviations: a mistyped --queue must be an error, not --queues.
        return super().create_parser(prog_name, subcommand, allow_abbrev=False, **kwargs)

    def check(self, *args: Any, **kwargs: Any) -> None:
        """Run the system checks, less the web's (``worker/system_checks.py``)."""
        with system_checks.without_web_checks():
            super().check(*args, **kwargs)

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--backend", default="default", help="TASKS alias (default: default)")
        parser.add_argument(
            "--queues",
            type=queue_list,
            default=(),
            help="comma-separated queues (default: all the backend's QUEUES)",
        )
        parser.add_argument(
            "--concurrency", type=positive_int, default=1, help="execution slots (default: 1)"
        )
        parser.add_argument(
            "--pool",
            choices=["process", "thread"],
            default="process",
            help="run slots as processes (default) or threads",
        )
        parser.add_argument("--burst", action="store_true", help="run what is ready, then exit")
        parser.add_argument(
            "--capabilities",
            type=capability_list,
            default=frozenset(),
            help="comma-separated capabilities this worker offers, e.g. gpu,eu-west: it runs "
            "tasks that require some only if it offers all of them (default: none)",
        )
        parser.add_argument(
            "--name", default="", help="worker name shown in worker ids (default: host name)"
        )
        parser.add_argument(
            "--no-scheduler",
            action="store_true",
            help="do not fire schedules from this worker (default: every worker does; each "
            "planned run still fires once)",
        )
        parser.add_argument(
            "--services",
            action=argparse.BooleanOptionalAction,
            default=True,
            help="host long-running services in a process of their own, beside the slots "
            "(default: yes; --no-services: this worker runs tasks only)",
        )
        parser.add_argument(
            "--max-services",
            type=positive_int,
            default=4,
            metavar="N",
            help="run at most N services at once on this worker (default: 4)",
        )
        parser.add_argument(
            "--max-tasks-per-slot",
            type=positive_int,
            default=None,
            metavar="N",
            help="replace a slot after it ran N tasks, for task code that leaks (default: never)",
        )
        parser.add_argument(
            "--max-memory-per-slot",
            type=positive_int,
            default=None,
            metavar="MB",
            help="replace a slot process once its resident memory passes MB after a task "
            "(process pool only; default: never)",
        )
        parser.add_argument(
            "--reload",
            action="store_true",
            help="restart the worker when code changes, with Django's autoreloader "
            "(for development only)",
        )
        parser.add_argument(
            "--log-format",
            choices=logs.LOG_FORMATS,
            default=None,
            help="log lines as text or JSON objects (for log shippers) on stderr; "
            "default: the project's LOGGING for django_taskflow if it has any, else text",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["reload"] and options["burst"]:
            raise CommandError("--reload and --burst cannot be combined: a burst worker exits.")
        if options["reload"] and not reload.is_reloaded_child():
            raise SystemExit(reload.restart_on_change())
        if options["backend"] not in task_backends.settings:
            aliases = ", ".join(sorted(task_backends.settings))
            raise CommandError(
                f"--backend {options['backend']!r} is not in TASKS. Aliases in TASKS: {aliases}."
            )
        if options["max_memory_per_slot"] is not None and options["pool"] == "thread":
            raise CommandError(
                "--max-memory-per-slot needs --pool process: thread slots share one process, "
                "whose memory no single slot can give back."
            )
        try:
            worker_options = WorkerOptions(
                backend=options["backend"],
                queues=options["queues"],
                concurrency=options["concurrency"],
                pool=options["pool"],
                burst=options["burst"],
                name=options["name"],
                capabilities=options["capabilities"],
                scheduler=not options["no_scheduler"],
                max_tasks_per_slot=options["max_tasks_per_slot"],
                max_memory_per_slot=options["max_memory_per_slot"],
                services=options["services"],
                max_services=options["max_services"],
                log_format=options["log_format"],
                verbosity=options["verbosity"],
            )
            backend_options = worker_options.backend_options
        except ConfigurationError as exc:
            raise CommandError(str(exc)) from exc
        valid_queues = task_backends[worker_options.backend].queues
        unknown = set(worker_options.queue_names) - valid_queues
        if valid_queues and unknown:
            raise CommandError(
                f"--queues names queues not in TASKS[{worker_options.backend!r}]['QUEUES']: "
                f"{', '.join(sorted(unknown))}. Valid queues: {', '.join(sorted(valid_queues))}."
            )
        connection = connections[backend_options.database]
        try:
            models.Task.objects.using(backend_options.database).exists()
            states = queue_state.read(backend_options, worker_options.backend)
        except DatabaseError as exc:
            raise CommandError(
                f"Cannot read the task table in database {backend_options.database!r} ({exc}). "
                "Has `manage.py migrate` been run?"
            ) from exc
        finally:
            connections.close_all()
        schedules_line = "off (--no-scheduler)"
        if worker_options.scheduler:
            try:
                schedules_line = "on; synced from code: " + str(
                    schedules.sync(using=backend_options.database)
                )
            except DatabaseError as exc:
                raise CommandError(
                    f"Cannot sync schedules to database {backend_options.database!r} ({exc}). "
                    "Has `manage.py migrate` been run?"
                ) from exc
            finally:
                connections.close_all()
        log_setup = logs.configure(options["log_format"], options["verbosity"])
        self.stdout.write(
            "django_taskflow worker\n"
            f"  queues:      {', '.join(worker_options.queue_names) or '(all)'}\n"
            + "\n".join(describe_queues(worker_options.queue_names, backend_options, states))
            + "\n"
            f"  capabilities: {', '.join(sorted(worker_options.capabilities)) or '(none)'}\n"
            f"  concurrency: {worker_options.concurrency} ({worker_options.pool} pool)"
            f"{', burst' if worker_options.burst else ''}\n"
            f"  database:    {connection.vendor} {connection.settings_dict['NAME']}\n"
            f"  lease:       {backend_options.lease_seconds:g} s\n"
            f"  recycling:   {describe_recycling(worker_options)}\n"
            f"  tasks:       {', '.join(registry.known_paths()) or '(none found)'}\n"
            f"  schedules:   {schedules_line}\n"
            f"  services:    {describe_services(worker_options)}\n"
            f"  log:         {log_setup}"
            + (
                "\n  reload:      restarts when code changes (development only: "
                "never use --reload in production)"
                if options["reload"]
                else ""
            )
        )
        self.stdout.flush()
        changed = reload.watch_code() if options["reload"] else None
        code = Worker(worker_options).run()
        if changed is not None and changed.is_set():
            raise SystemExit(reload.RESTART_CODE)
        if code:
            raise SystemExit(code)
