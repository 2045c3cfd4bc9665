"""``taskflow cancel``, ``requeue`` and ``retry``: acting on tasks by id or by filter.

Each calls one function of ``operations``, which checks the states and
does the writing; ``--dry-run`` asks it what it would do. The shell is
trusted as the operator is: no permission is checked, and ``by`` is the
login name of the shell's user.
"""

from __future__ import annotations

import getpass
from collections.abc import Callable
from typing import Any

from django.core.management.base import CommandError

from django_taskflow import operations, rerun
from django_taskflow.cli.backend import backend_options
from django_taskflow.cli.output import Printer, plural
from django_taskflow.states import FINISHED, Status

FILTERS = ("name", "queue", "tag", "status")


def shell_user() -> str:
    """Who acts, as stored in ``by``: the shell's login name and the command."""
    try:
        user = getpass.getuser()
    except (OSError, KeyError):  # no login name: an anonymous uid in a container
        return "manage.py taskflow"
    return f"{user} (manage.py taskflow)"


def selected_filters(
    task_ids: list[Any], options: dict[str, Any], *, default_status: list[str] | None = None
) -> dict[str, Any]:
    """The filters given, when no ids are; CommandError unless exactly one kind is given."""
    given = {key: options[key] for key in FILTERS if options[key] is not None}
    if task_ids and given:
        raise CommandError("Give task ids or filters (--name, --queue...), not both.")
    if not task_ids and not given:
        raise CommandError("Give task ids, or at least one of --name, --queue, --tag, --status.")
    if given and "status" not in given and default_status is not None:
        given["status"] = default_status
    return given


def cancel(out: Printer, *, backend: str, task_ids: list[Any], **options: Any) -> None:
    """Cancel queued tasks and ask running ones to stop."""
    backend_options(backend)
    given = selected_filters(task_ids, options)
    common = {"reason": options["reason"], "by": shell_user(), "dry_run": options["dry_run"]}
    if task_ids:
        count = sum(operations.cancel(task_id, backend=backend, **common) for task_id in task_ids)
    else:
        count = operations.cancel_tasks(given.pop("name", None), backend=backend, **common, **given)
    out.count("would cancel" if options["dry_run"] else "cancelled", count, "task")


def requeue(out: Printer, **options: Any) -> None:
    """A new task with the same inputs for each finished task; by filter, finished ones only."""
    _run_again(out, operations.requeue, ("requeue", "requeued"), list(FINISHED), **options)


def retry(out: Printer, **options: Any) -> None:
    """Failed tasks (and queued ones waiting) run at once; by filter, failed ones by default."""
    _run_again(out, operations.retry_now, ("retry", "retried"), [Status.FAILED], **options)


def _run_again(
    out: Printer,
    operation: Callable[..., rerun.Report],
    verbs: tuple[str, str],
    default_status: list[str],
    *,
    backend: str,
    task_ids: list[Any],
    dry_run: bool,
    **options: Any,
) -> None:
    backend_options(backend)
    given = selected_filters(task_ids, options, default_status=default_status)
    report = operation(task_ids or None, by=shell_user(), dry_run=dry_run, backend=backend, **given)
    extra: dict[str, Any] = {"refused": dict(report.refused)}
    if report.new_ids:
        extra["new_ids"] = [str(task_id) for task_id in report.new_ids]
    out.count(f"would {verbs[0]}" if dry_run else verbs[1], report.changed, "task", **extra)
    if not out.as_json:
        for reason, count in sorted(report.refused.items(), key=lambda item: (-item[1], item[0])):
            out.say(f"  left {plural(count, 'task')}: {reason}")
