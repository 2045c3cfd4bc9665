"""``manage.py taskworker``: arguments refused before a worker starts."""

from __future__ import annotations

import argparse
import re

import pytest
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import override_settings

from django_taskflow.exceptions import ConfigurationError
from django_taskflow.management.commands.taskworker import (
    Command,
    capability_list,
    positive_int,
    queue_list,
)
from django_taskflow.worker import WorkerOptions


@pytest.mark.parametrize(("value", "expected"), [("1", 1), ("8", 8), (" 3 ", 3)])
def test_positive_int_reads_a_whole_number(value: str, expected: int) -> None:
    assert positive_int(value) == expected


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("0", "must be at least 1, got 0"),
        ("-2", "must be at least 1, got -2"),
        ("x", "must be a whole number, got 'x'"),
        ("1.5", "must be a whole number, got '1.5'"),
        ("", "must be a whole number, got ''"),
    ],
)
def test_positive_int_refuses_anything_else(value: str, message: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError, match=f"^{re.escape(message)}$"):
        positive_int(value)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("a, b", ("a", "b")),
        ("emails", ("emails",)),
        (" default ,, reports, ", ("default", "reports")),
    ],
)
def test_queue_list_splits_on_commas_and_strips(value: str, expected: tuple[str, ...]) -> None:
    assert queue_list(value) == expected


@pytest.mark.parametrize("value", [" , ", "", ",,"])
def test_queue_list_refuses_no_queue_names(value: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError, match="give at least one queue name"):
        queue_list(value)


def test_zero_concurrency_is_refused_by_call_command() -> None:
    # call_command does not come from the command line, so Django's parser
    # raises CommandError instead of exiting.
    with pytest.raises(CommandError, match="argument --concurrency: must be at least 1, got 0"):
        call_command("taskworker", "--concurrency", "0")


def test_zero_concurrency_exits_with_usage_error_from_the_command_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as info:
        Command().run_from_argv(["manage.py", "taskworker", "--concurrency", "0"])

    assert info.value.code == 2
    assert "argument --concurrency: must be at least 1, got 0" in capsys.readouterr().err


def test_non_numeric_concurrency_is_refused() -> None:
    with pytest.raises(CommandError, match="argument --concurrency: must be a whole number"):
        call_command("taskworker", "--concurrency", "many")


def test_zero_concurrency_given_as_a_keyword_is_refused() -> None:
    # Keyword options skip argparse's type=; WorkerOptions still refuses them.
    with pytest.raises(CommandError, match="concurrency must be at least 1, got 0"):
        call_command("taskworker", concurrency=0)


def test_empty_queue_list_is_refused() -> None:
    with pytest.raises(CommandError, match="argument --queues: give at least one queue name"):
        call_command("taskworker", "--queues", " , ")


def test_queue_not_in_the_backend_queues_is_refused_with_the_valid_ones_listed() -> None:
    with pytest.raises(CommandError) as info:
        call_command("taskworker", "--queues", "default,nope,archive")
    assert str(info.value) == (
        "--queues names queues not in TASKS['default']['QUEUES']: archive, nope. "
        "Valid queues: critical, default, emails, high, low, reports."
    )


@pytest.mark.parametrize("abbreviated", ["--queue", "--que", "--concur", "--log"])
def test_abbreviated_options_are_refused(
    abbreviated: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # argparse would take --queue as --queues; a typo must not pass silently.
    with pytest.raises(SystemExit) as info:
        Command().run_from_argv(["manage.py", "taskworker", abbreviated, "default"])

    assert info.value.code == 2
    assert f"unrecognized arguments: {abbreviated} default" in capsys.readouterr().err


def test_unknown_log_format_is_refused() -> None:
    with pytest.raises(CommandError, match="argument --log-format: invalid choice: 'xml'"):
        call_command("taskworker", "--log-format", "xml")


def test_unknown_pool_is_refused() -> None:
    with pytest.raises(CommandError, match="argument --pool: invalid choice: 'fork'"):
        call_command("taskworker", "--pool", "fork")


def test_unknown_backend_alias_is_refused_with_the_valid_ones_listed() -> None:
    with pytest.raises(
        CommandError, match=r"^--backend 'nope' is not in TASKS\. Aliases in TASKS: default\.$"
    ):
        call_command("taskworker", "--backend", "nope")


def test_backend_that_is_not_taskflow_is_refused() -> None:
    tasks = {
        "default": settings.TASKS["default"],
        "immediate": {"BACKEND": "django.tasks.backends.immediate.ImmediateBackend"},
    }

    with (
        override_settings(TASKS=tasks),
        pytest.raises(
            CommandError,
            match=re.escape("taskworker needs 'django_taskflow.backend.TaskflowBackend'"),
        ),
    ):
        call_command("taskworker", "--backend", "immediate")


def test_bad_backend_options_stop_the_worker_from_starting() -> None:
    tasks = {"default": {**settings.TASKS["default"], "OPTIONS": {"LEASE_SECONDS": 0}}}

    with (
        override_settings(TASKS=tasks),
        pytest.raises(CommandError, match=r"TASKS\['default'\]\['OPTIONS'\]\['LEASE_SECONDS'\]"),
    ):
        call_command("taskworker")


@pytest.mark.parametrize("concurrency", [0, -1])
def test_worker_options_refuse_concurrency_below_one(concurrency: int) -> None:
    with pytest.raises(
        ConfigurationError, match=f"concurrency must be at least 1, got {concurrency}"
    ):
        WorkerOptions(concurrency=concurrency)


def test_worker_options_refuse_an_unknown_pool() -> None:
    with pytest.raises(ConfigurationError, match="pool must be 'process' or 'thread', got 'fork'"):
        WorkerOptions(pool="fork")  # type: ignore[arg-type]


def test_worker_takes_every_backend_queue_when_none_are_given() -> None:
    assert WorkerOptions().queue_names == (
        "critical",
        "default",
        "emails",
        "high",
        "low",
        "reports",
    )


def test_worker_takes_only_the_queues_given() -> None:
    assert WorkerOptions(queues=("emails",)).queue_names == ("emails",)


def test_worker_options_read_the_backend_options() -> None:
    lease = settings.TASKS["default"]["OPTIONS"]["LEASE_SECONDS"]

    assert WorkerOptions().backend_options.lease_seconds == lease


@pytest.mark.parametrize(("index", "expected"), [(None, "web-1:4242"), (3, "web-1:4242:3")])
def test_slot_id_names_host_process_and_slot(index: int | None, expected: str) -> None:
    assert WorkerOptions(name="web-1").slot_id(4242, index) == expected


def test_slot_id_cuts_a_long_name_to_60_characters() -> None:
    assert WorkerOptions(name="w" * 100).slot_id(1) == "w" * 60 + ":1"


@pytest.mark.parametrize(
    ("value", "expected"),
    [("gpu", {"gpu"}), ("gpu, eu-west", {"gpu", "eu-west"}), ("gpu,,gpu,", {"gpu"})],
)
def test_capability_list_splits_on_commas_and_strips(value: str, expected: set[str]) -> None:
    assert capability_list(value) == frozenset(expected)


@pytest.mark.parametrize(
    ("value", "message"),
    [(",", "give at least one capability"), ("gpu,a\x00b", "not a capability name: 'a\\x00b'")],
)
def test_capability_list_refuses_bad_names(value: str, message: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError, match=re.escape(message)):
        capability_list(value)


def test_bad_capabilities_are_refused_by_the_command() -> None:
    with pytest.raises(CommandError, match="argument --capabilities: give at least one capability"):
        call_command("taskworker", "--capabilities", ",")
