"""``taskflow rotate-keys``: re-encrypt tasks under the current encryption key."""

from __future__ import annotations

from typing import Any

from django.core.management.base import CommandError

from django_taskflow import key_rotation
from django_taskflow.cli import output
from django_taskflow.cli.backend import backend_options
from django_taskflow.cli.output import Printer


def rotate_keys(
    out: Printer, *, backend: str, batch_size: int, wait: float, **options: Any
) -> None:
    """Re-encrypt every task written with an older key; fail if some are left."""
    report = key_rotation.rotate_keys(
        backend_options(backend), batch_size=batch_size, wait_seconds=wait
    )
    if out.as_json:
        out.write(
            output.to_json(
                {
                    "current_key": report.current_key,
                    "rotated": report.rotated,
                    "passes": report.passes,
                    "left_running": dict(report.left_running),
                    "left_after_last_pass": dict(report.left_after_last_pass),
                    "unreadable": report.unreadable,
                }
            )
        )
    else:
        out.say(
            f"re-encrypted {output.plural(report.rotated, 'task')} under key "
            f"{report.current_key!r} in {report.passes} pass{'' if report.passes == 1 else 'es'}"
        )
    if report.is_complete:
        return
    problems = [
        f"{count} still running under key {key!r} after {wait:g} s"
        for key, count in sorted(report.left_running.items())
    ]
    problems += [
        f"{count} ended or written under key {key!r} after the last pass (run rotate-keys again)"
        for key, count in sorted(report.left_after_last_pass.items())
    ]
    problems += [f"task {task_id}: {why}" for task_id, why in sorted(report.unreadable.items())]
    raise CommandError(
        "Some tasks are still under an old key; keep that key until they are "
        "re-encrypted: " + "; ".join(problems)
    )
