"""``manage.py taskflow <subcommand>``: operate django_taskflow from a shell.

Each subcommand is one handler below, registered in ``add_arguments``. They
parse and check input (``cli/arguments.py``), call one function of
``operations``, ``queries``, ``retention``, ``stats`` or ``health``, and print
through ``cli/output.py``: a table, or JSON with ``--json``. Errors are
``CommandError`` (exit code 1; 2 for bad usage); ``health`` exits 3 when
unhealthy. The shell is trusted as the operator is: no permission checks.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import DatabaseError
from django.tasks import task_backends

from django_taskflow import operations, queries, schedules
from django_taskflow.cli import arguments, output
from django_taskflow.conf import Options
from django_taskflow.exceptions import ConfigurationError, TaskflowError

# `taskflow health` exit code when a check fails (1 and 2 are Django's:
# a command error and a usage error).
UNHEALTHY_EXIT_CODE = 3


def _config(backend: str) -> Options:
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


def _database(backend: str) -> str:
    return _config(backend).database


class Command(BaseCommand):
    help = (
        "Operate django_taskflow: list, show, cancel, stats, prune, health, pause, resume, "
        "limit, purge-queue, sync-schedules. `manage.py taskflow <subcommand> --help` for each."
    )

    def create_parser(self, prog_name: str, subcommand: str, **kwargs: Any) -> CommandParser:
        return super().create_parser(prog_name, subcommand, allow_abbrev=False, **kwargs)

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        commands = parser.add_subparsers(
            dest="subcommand", metavar="subcommand", required=True, parser_class=CommandParser
        )
        common = CommandParser(add_help=False)
        common.add_argument("--backend", default="default", help="TASKS alias (default: default)")
        # Also after the subcommand (`taskflow list -v 0`); SUPPRESS keeps a
        # value given before it.
        common.add_argument(
            "-v", "--verbosity", type=int, choices=[0, 1, 2, 3], default=argparse.SUPPRESS,
            help="0: minimal output, 1: normal, 2: tracebacks in show",
        )  # fmt: skip
        json_flag = CommandParser(add_help=False)
        json_flag.add_argument("--json", action="store_true", help="print JSON, for scripts")
        both = [common, json_flag]

        def add(name: str, handler: Callable[..., None], help: str, **kwargs: Any) -> Any:
            sub = commands.add_parser(name, help=help, description=help, **kwargs)
            sub.set_defaults(handler=handler)
            return sub

        listing = add("list", self.list_tasks, "list tasks, newest first", parents=both)
        self._add_filters(listing)
        listing.add_argument(
            "--limit", type=arguments.positive_int, default=50, help="most rows (default 50)"
        )

        show = add("show", self.show, "a task, its attempts and its events", parents=both)
        show.add_argument("task_id", type=arguments.task_id, metavar="ID")

        cancel = add(
            "cancel",
            self.cancel,
            "cancel queued tasks and ask running ones to stop, by id or by filter",
            parents=both,
        )
        cancel.add_argument("task_ids", type=arguments.task_id, nargs="*", metavar="ID")
        self._add_filters(cancel, dates=False)
        cancel.add_argument("--reason", default="", help="stored with each task")
        cancel.add_argument("--dry-run", action="store_true", help="count, change nothing")

        # `requeue` and `retry` (by id or by filter, --dry-run) and `workers`
        # register here when operations.requeue/retry and WorkerProcess land.

        add("stats", self.stats, "counts by status and queue, oldest ready task, throughput",
            parents=both)  # fmt: skip

        prune = add(
            "prune",
            self.prune,
            "delete finished tasks with their attempts and events, in short chunks",
            parents=both,
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
        prune.add_argument("--dry-run", action="store_true", help="count, delete nothing")

        health = add(
            "health",
            self.health,
            "check the database, migrations, workers and the oldest ready task; "
            f"exit code 0 when healthy, {UNHEALTHY_EXIT_CODE} when not",
            parents=both,
        )
        health.add_argument(
            "--max-ready-age",
            type=arguments.seconds,
            help="seconds (or 5m…) a ready task may wait; "
            "default OPTIONS['HEALTH_MAX_READY_AGE_SECONDS']",
        )

        for name, handler, text in (
            ("pause", self.pause, "stop workers from starting tasks of a queue"),
            ("resume", self.resume, "let workers start tasks of a paused queue again"),
        ):
            add(name, handler, text, parents=[common]).add_argument("queue")
        limit = add("limit", self.limit, "cap a queue's running tasks", parents=[common])
        limit.add_argument("queue")
        limit.add_argument(
            "limit", type=arguments.queue_limit, help="most at once, or none for the setting's"
        )
        purge = add(
            "purge-queue",
            self.purge_queue,
            "delete every queued task of a queue (running ones finish)",
            parents=both,
        )
        purge.add_argument("queue")
        purge.add_argument("--dry-run", action="store_true", help="count, delete nothing")

        sync = add(
            "sync-schedules",
            self.sync_schedules,
            "write the schedules the code declares to the Schedule table",
            parents=[common],
        )
        sync.description = (
            "Create schedules the code declares, update changed ones and disable "
            "those it no longer declares. Schedules made in the admin or at run time are "
            "never touched. Workers do this when they start."
        )

    @staticmethod
    def _add_filters(parser: argparse.ArgumentParser, *, dates: bool = True) -> None:
        parser.add_argument(
            "--status", type=arguments.statuses, help="queued,running,succeeded,failed,cancelled"
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
        handler: Callable[..., None] = options["handler"]
        try:
            handler(**options)
        except TaskflowError as exc:
            raise CommandError(str(exc)) from exc
        except DatabaseError as exc:
            raise CommandError(
                f"The database failed: {exc}. Has `manage.py migrate` been run?"
            ) from exc

    def _say(self, text: str, options: dict[str, Any]) -> None:
        """A summary line, silenced by --verbosity 0."""
        if options["verbosity"] >= 1:
            self.stdout.write(text)

    # -- tasks ---------------------------------------------------------------

    def list_tasks(self, *, backend: str, limit: int, **options: Any) -> None:
        _config(backend)
        tasks = queries.find_tasks(
            options["name"],
            status=options["status"],
            queue=options["queue"],
            tag=options["tag"],
            since=options["since"],
            until=options["until"],
            backend=backend,
        ).only(*output.LIST_FIELDS)[:limit]
        rows = [output.task_summary(task) for task in tasks]
        if options["json"]:
            self.stdout.write(output.to_json(rows))
            return
        if not rows:
            self._say("no tasks match", options)
            return
        headers = ("id", "status", "name", "queue", "attempts", "enqueued", "started", "finished")
        self.stdout.write(
            output.table(
                headers,
                [
                    (
                        row["id"],
                        row["status"],
                        row["name"],
                        row["queue"],
                        f"{row['attempts']}/{row['max_attempts']}",
                        row["enqueued_at"],
                        row["started_at"],
                        row["finished_at"],
                    )
                    for row in rows
                ],
            )
        )

    def show(self, *, backend: str, task_id: Any, **options: Any) -> None:
        from django_taskflow import models

        database = _database(backend)
        task = models.Task.objects.using(database).filter(backend=backend, pk=task_id).first()
        if task is None:
            raise CommandError(f"No task with id {task_id} in backend {backend!r}.")
        attempts = [output.attempt_detail(a) for a in task.attempt_set.using(database).all()]
        events = [output.event_detail(e) for e in task.event_set.using(database).all()]
        detail = output.task_detail(task)
        if options["json"]:
            self.stdout.write(
                output.to_json({"task": detail, "attempts": attempts, "events": events})
            )
            return
        self.stdout.write(output.key_values(detail))
        self.stdout.write(f"\nattempts ({len(attempts)})")
        if attempts:
            self.stdout.write(
                output.table(
                    ("number", "outcome", "worker", "started", "finished", "error"),
                    [
                        (
                            a["number"],
                            a["outcome"],
                            a["worker_id"],
                            a["started_at"],
                            a["finished_at"],
                            f"{a['error_class']}: {a['error_message']}" if a["error_class"] else "",
                        )
                        for a in attempts
                    ],
                )
            )
            if options["verbosity"] >= 2:
                for a in attempts:
                    if a["traceback"]:
                        self.stdout.write(
                            f"\ntraceback of attempt {a['number']}:\n{a['traceback']}"
                        )
        self.stdout.write(f"\nevents ({len(events)})")
        if events:
            self.stdout.write(
                output.table(
                    ("id", "kind", "attempt", "at", "data"),
                    [
                        (
                            e["id"],
                            e["kind"],
                            e["attempt"],
                            e["created_at"],
                            output.to_json(e["data"]),
                        )
                        for e in events
                    ],
                )
            )

    def cancel(self, *, backend: str, task_ids: list[Any], **options: Any) -> None:
        _config(backend)
        filters = {key: options[key] for key in ("name", "queue", "tag", "status")}
        given = {key: value for key, value in filters.items() if value is not None}
        if task_ids and given:
            raise CommandError("Give task ids or filters (--name, --queue...), not both.")
        if not task_ids and not given:
            raise CommandError(
                "Give task ids, or at least one of --name, --queue, --tag, --status."
            )
        who = "manage.py taskflow"
        if task_ids:
            if options["dry_run"]:
                count = self._cancellable_count(backend, task_ids=task_ids)
            else:
                count = sum(
                    operations.cancel(task_id, reason=options["reason"], by=who, backend=backend)
                    for task_id in task_ids
                )
        elif options["dry_run"]:
            queries.filter_tasks(backend=backend, **given)  # validates the filters
            count = self._cancellable_count(backend, **given)
        else:
            count = operations.cancel_tasks(
                given.pop("name", None), reason=options["reason"], by=who, backend=backend, **given
            )
        verb = "would cancel" if options["dry_run"] else "cancelled"
        if options["json"]:
            self.stdout.write(output.to_json({verb.replace(" ", "_"): count}))
        else:
            self._say(f"{verb} {count} task{'s' if count != 1 else ''}", options)

    @staticmethod
    def _cancellable_count(backend: str, task_ids: list[Any] | None = None, **filters: Any) -> int:
        from django_taskflow.states import CANCELLABLE, Status

        statuses = filters.pop("status", None) or list(CANCELLABLE)
        if not set(statuses) <= set(CANCELLABLE):
            raise CommandError("--status can only be queued, running or both: only those cancel.")
        tasks = queries.filter_tasks(backend=backend, status=statuses, **filters)
        if task_ids is not None:
            tasks = tasks.filter(pk__in=task_ids)
        # A running task already asked to stop is not asked again.
        return (
            tasks.exclude(status=Status.RUNNING, cancel_requested_at__isnull=False)
            .order_by()
            .count()
        )

    # -- figures -------------------------------------------------------------

    def stats(self, *, backend: str, **options: Any) -> None:
        from django_taskflow import models, queue_state
        from django_taskflow import stats as stats_module

        config = _config(backend)
        figures = stats_module.collect(config, backend)
        queues = queue_state.overview(config, backend, task_backends[backend].queues)
        turn = models.PruneTurn.objects.using(config.database).filter(backend=backend).first()
        data = {
            "by_status": figures.by_status,
            "by_queue": figures.counts,
            "queues": {
                q.name: {"paused": q.paused, "limit": q.limit, "weight": q.weight} for q in queues
            },
            "ready": figures.ready,
            "oldest_ready_age_seconds": figures.oldest_ready_age,
            "finished": {f"{m}m": figures.finished[m] for m in stats_module.WINDOWS},
            "throughput_per_second": {
                f"{m}m": round(figures.throughput(m), 3) for m in stats_module.WINDOWS
            },
            "last_prune": None
            if turn is None or turn.last_pruned_at is None
            else {"at": turn.last_pruned_at, "deleted": turn.last_deleted, "by": turn.holder},
        }
        if options["json"]:
            self.stdout.write(output.to_json(data))
            return
        from django_taskflow.states import Status

        statuses = list(Status.values)
        self.stdout.write(
            output.table(
                ("queue", *statuses, "paused", "limit"),
                [
                    (
                        q.name,
                        *(figures.counts.get(q.name, {}).get(s, 0) for s in statuses),
                        "yes" if q.paused else "",
                        q.limit,
                    )
                    for q in queues
                ]
                + [("(all)", *(figures.by_status[s] for s in statuses), "", "")],
            )
        )
        age = figures.oldest_ready_age
        self.stdout.write(
            f"\nready now: {figures.ready}; oldest ready task waited: "
            + ("-" if age is None else f"{age:.1f} s")
        )
        self.stdout.write(
            "throughput (tasks/s): "
            + ", ".join(
                f"{m} min {figures.throughput(m):.2f} ({figures.finished[m]} finished)"
                for m in stats_module.WINDOWS
            )
        )
        if data["last_prune"] is not None and turn is not None:
            self.stdout.write(
                f"last prune: {output.cell_text(turn.last_pruned_at)} by {turn.holder}, "
                f"{turn.last_deleted} tasks"
            )

    def health(self, *, backend: str, max_ready_age: float | None, **options: Any) -> None:
        from django_taskflow import health

        report = health.check(_config(backend), backend, max_ready_age=max_ready_age)
        if options["json"]:
            self.stdout.write(output.to_json(report.as_json()))
        elif options["verbosity"] >= 1:
            for item in report.checks:
                self.stdout.write(f"{'ok  ' if item.ok else 'FAIL'}  {item.name}: {item.detail}")
            self.stdout.write("healthy" if report.healthy else "unhealthy")
        if not report.healthy:
            self.stdout.flush()
            sys.exit(UNHEALTHY_EXIT_CODE)

    # -- deleting ------------------------------------------------------------

    def prune(self, *, backend: str, older_than: Any, status: Any, **options: Any) -> None:
        from django_taskflow import retention

        config = _config(backend)
        if older_than is None:
            if status is not None:
                raise CommandError("--status needs --older-than.")
            if not config.retention:
                raise CommandError(
                    f"Give --older-than (e.g. 30d), or set TASKS[{backend!r}]['OPTIONS']"
                    "['RETENTION'] (e.g. {'succeeded': '7d', 'failed': '30d'})."
                )
            from django.utils import timezone

            cutoffs = retention.retention_cutoffs(config.retention, timezone.now())
            report = retention.prune_statuses(
                config.database,
                backend,
                cutoffs,
                chunk_size=options["chunk_size"],
                dry_run=options["dry_run"],
            )
        else:
            report = retention.prune(
                older_than,
                status=status,
                backend=backend,
                chunk_size=options["chunk_size"],
                dry_run=options["dry_run"],
            )
        verb = "would delete" if report.dry_run else "deleted"
        if options["json"]:
            self.stdout.write(
                output.to_json(
                    {
                        verb.replace(" ", "_"): dict(report.deleted),
                        "total": report.total,
                        "expired_dedup_keys": report.dedup_keys,
                    }
                )
            )
            return
        details = ", ".join(f"{s}: {n}" for s, n in report.deleted.items())
        keys = f" and {report.dedup_keys} expired deduplication keys" if report.dedup_keys else ""
        self._say(f"{verb} {report.total} tasks ({details}){keys}", options)

    def purge_queue(self, *, backend: str, queue: str, **options: Any) -> None:
        _config(backend)
        count = operations.purge_queue(queue, dry_run=options["dry_run"], backend=backend)
        verb = "would delete" if options["dry_run"] else "deleted"
        if options["json"]:
            self.stdout.write(output.to_json({verb.replace(" ", "_"): count, "queue": queue}))
        else:
            self._say(f"{verb} {count} queued tasks of queue {queue!r}", options)

    # -- queues --------------------------------------------------------------

    def pause(self, *, backend: str, queue: str, **options: Any) -> None:
        _config(backend)
        operations.pause_queue(queue, backend=backend)
        self._say(f"queue {queue!r} paused: its queued tasks wait", options)

    def resume(self, *, backend: str, queue: str, **options: Any) -> None:
        _config(backend)
        operations.resume_queue(queue, backend=backend)
        self._say(f"queue {queue!r} resumed", options)

    def limit(self, *, backend: str, queue: str, limit: int | None, **options: Any) -> None:
        _config(backend)
        operations.set_queue_limit(queue, limit, backend=backend)
        text = "the setting's limit" if limit is None else f"at most {limit} running at once"
        self._say(f"queue {queue!r}: {text}", options)

    # -- schedules -----------------------------------------------------------

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
