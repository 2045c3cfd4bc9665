"""``manage.py taskflow`` from a shell: exit code 2 for bad usage, 1 for a command error."""

from __future__ import annotations

import pytest

from django_taskflow.management.commands.taskflow import Command


def run(*argv: str) -> int:
    with pytest.raises(SystemExit) as info:
        Command().run_from_argv(["manage.py", "taskflow", "--skip-checks", *argv])
    return int(info.value.code or 0)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["retry", "--status", "succeeded"], "succeeded tasks are not retried"),
        (["requeue", "42"], "'42' is not a task id"),
        (["cancel", "--dry"], "unrecognized arguments: --dry"),
        (["workers", "--limit", "3"], "unrecognized arguments: --limit 3"),
        (["launch"], "invalid choice: 'launch'"),
    ],
)
def test_bad_usage_exits_2_naming_the_problem(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(*argv) == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["retry"], "Give task ids, or at least one of --name"),
        (["requeue", "--queue", "q", "--backend", "nope"], "--backend 'nope' is not in TASKS"),
    ],
)
def test_a_command_error_exits_1_naming_the_problem(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(*argv) == 1
    assert message in capsys.readouterr().err
