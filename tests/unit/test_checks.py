"""System checks for a TaskflowBackend's OPTIONS: taskflow.E001, E002 and E003."""

from __future__ import annotations

import base64
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from django.conf import settings
from django.core import checks
from django.core.checks import run_checks
from django.test import override_settings

from django_taskflow import backend as backend_module
from django_taskflow.backend import TaskflowBackend
from django_taskflow.exceptions import ConfigurationError
from tests.conftest import ROOT

BACKEND_PATH = "django_taskflow.backend.TaskflowBackend"


def make_backend(options: dict[str, Any] | None = None, alias: str = "default") -> TaskflowBackend:
    params: dict[str, Any] = {"BACKEND": BACKEND_PATH, "QUEUES": ["default", "emails"]}
    if options is not None:
        params["OPTIONS"] = options
    return TaskflowBackend(alias, params)


def run_taskflow_checks() -> list[checks.CheckMessage]:
    """Run every registered system check and keep ours.

    ``databases=[]``: the model checks would otherwise ask each database
    whether it supports JSONField, and unit tests stay off the database.
    """
    return [
        message
        for message in run_checks(databases=[])
        if (message.id or "").startswith("taskflow.")
    ]


def test_good_options_pass_the_checks() -> None:
    backend = make_backend({"LEASE_SECONDS": 60, "MAX_ATTEMPTS": 3, "DATABASE": "default"})

    assert backend.check() == []


def test_missing_options_pass_the_checks() -> None:
    assert make_backend().check() == []


def test_unknown_option_is_error_e001() -> None:
    [message] = make_backend({"LEASE_SECOND": 60}).check()

    assert message.id == "taskflow.E001"
    assert message.level == checks.ERROR
    assert message.obj == "TASKS['default']['OPTIONS']['LEASE_SECOND']"
    assert "is not an option" in message.msg


def test_bad_value_is_error_e002() -> None:
    [message] = make_backend({"LEASE_SECONDS": 0}).check()

    assert message.id == "taskflow.E002"
    assert message.level == checks.ERROR
    assert message.obj == "TASKS['default']['OPTIONS']['LEASE_SECONDS']"
    assert message.msg == (
        "TASKS['default']['OPTIONS']['LEASE_SECONDS'] must be a finite number greater than 0, got 0."
    )


def test_unknown_database_alias_is_error_e002() -> None:
    [message] = make_backend({"DATABASE": "replica"}).check()

    assert message.id == "taskflow.E002"
    assert "'replica'" in message.msg


def test_each_bad_option_gets_its_own_error() -> None:
    messages = make_backend(
        {
            "COLOUR": "red",
            "BATCH_SIZE": 0,
            "RETRY_POLICY": {"kind": "fixed"},
            "DEFAULT_TIMEOUT": 30,
            "MIDDLEWARE": "app.middleware.Timing",
        }
    ).check()

    assert sorted((message.id, message.obj) for message in messages) == [
        ("taskflow.E001", "TASKS['default']['OPTIONS']['COLOUR']"),
        ("taskflow.E002", "TASKS['default']['OPTIONS']['BATCH_SIZE']"),
        ("taskflow.E002", "TASKS['default']['OPTIONS']['DEFAULT_TIMEOUT']"),
        ("taskflow.E002", "TASKS['default']['OPTIONS']['MIDDLEWARE']"),
        ("taskflow.E002", "TASKS['default']['OPTIONS']['RETRY_POLICY']"),
    ]


def test_removed_retry_delay_is_error_e001() -> None:
    [message] = make_backend({"RETRY_DELAY": 5}).check()

    assert message.id == "taskflow.E001"
    assert message.obj == "TASKS['default']['OPTIONS']['RETRY_DELAY']"


def test_new_options_with_good_values_pass_the_checks() -> None:
    backend = make_backend(
        {
            "RETRY_POLICY": {"kind": "exponential", "max_delay": 60},
            "DEFAULT_TIMEOUT": {"soft": 10, "hard": 30},
            "MIDDLEWARE": ["django_taskflow.contrib.middleware.LoggingMiddleware"],
        }
    )

    assert backend.check() == []


def test_errors_name_the_backend_alias() -> None:
    [message] = make_backend({"BATCH_SIZE": 0}, alias="bulk").check()

    assert message.obj == "TASKS['bulk']['OPTIONS']['BATCH_SIZE']"


def test_unsupported_database_vendor_is_error_e003(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(backend_module, "connections", {"default": SimpleNamespace(vendor="mysql")})

    [message] = make_backend({}).check()

    assert message.id == "taskflow.E003"
    assert message.obj == "TASKS['default']['OPTIONS']['DATABASE']"
    assert "DATABASES['default'] is mysql" in message.msg


def test_config_of_a_misconfigured_backend_raises_configuration_error() -> None:
    backend = make_backend({"MAX_ATTEMPTS": 0})

    with pytest.raises(ConfigurationError, match=r"\['MAX_ATTEMPTS'\] must be"):
        _ = backend.config


def test_run_checks_reports_a_bad_option_with_its_id() -> None:
    tasks = {
        "default": settings.TASKS["default"],
        "broken": {"BACKEND": BACKEND_PATH, "OPTIONS": {"LEASE_SECONDS": -1}},
    }

    with override_settings(TASKS=tasks):
        messages = run_taskflow_checks()

    assert [(message.id, message.obj) for message in messages] == [
        ("taskflow.E002", "TASKS['broken']['OPTIONS']['LEASE_SECONDS']"),
    ]


def test_run_checks_reports_an_unknown_option_with_its_id() -> None:
    tasks = {
        "default": {**settings.TASKS["default"], "OPTIONS": {"LEASE": 30}},
    }

    with override_settings(TASKS=tasks):
        messages = run_taskflow_checks()

    assert [(message.id, message.obj) for message in messages] == [
        ("taskflow.E001", "TASKS['default']['OPTIONS']['LEASE']"),
    ]


def test_the_test_project_settings_pass_the_checks() -> None:
    assert run_taskflow_checks() == []


def test_middleware_that_cannot_be_loaded_is_error_e005() -> None:
    backend = TaskflowBackend(
        "default",
        {
            "BACKEND": "django_taskflow.backend.TaskflowBackend",
            "OPTIONS": {"MIDDLEWARE": ["tests.no_such_module.Timing"]},
        },
    )
    [message] = backend.check()
    assert message.id == "taskflow.E005"
    assert "TASKS['default']['OPTIONS']['MIDDLEWARE']" in message.msg
    assert "tests.no_such_module.Timing" in message.msg


def test_api_permission_class_that_cannot_be_imported_is_error_e006() -> None:
    backend = TaskflowBackend(
        "default",
        {
            "BACKEND": "django_taskflow.backend.TaskflowBackend",
            "OPTIONS": {"API_PERMISSION_CLASSES": ["myproject.permissions.NoSuchClass"]},
        },
    )
    [message] = backend.check()
    assert message.id == "taskflow.E006"
    assert "TASKS['default']['OPTIONS']['API_PERMISSION_CLASSES']" in message.msg
    assert "myproject.permissions.NoSuchClass" in message.msg


# taskflow.W001: installed, but no backend in TASKS is ours


@pytest.mark.parametrize(
    "tasks",
    [
        {"default": {"BACKEND": "django.tasks.backends.immediate.ImmediateBackend"}},
        {"default": {"BACKEND": "django.tasks.backends.dummy.DummyBackend"}},
        {},
    ],
    ids=["immediate", "dummy", "empty"],
)
def test_no_taskflow_backend_in_tasks_is_warning_w001(tasks: dict[str, Any]) -> None:
    with override_settings(TASKS=tasks):
        [message] = run_taskflow_checks()

    assert message.id == "taskflow.W001"
    assert message.level == checks.WARNING
    assert message.obj == "TASKS"
    assert "no backend in TASKS is a TaskflowBackend" in message.msg
    assert "options (max_attempts, retry, timeout...) are ignored" in message.msg
    assert message.hint is not None
    assert '"BACKEND": "django_taskflow.backend.TaskflowBackend"' in message.hint


def test_w001_names_the_backends_found() -> None:
    immediate = "django.tasks.backends.immediate.ImmediateBackend"
    with override_settings(TASKS={"default": {"BACKEND": immediate}}):
        [message] = run_taskflow_checks()

    assert f"'default': {immediate}" in message.msg


def test_one_taskflow_backend_among_others_passes_w001() -> None:
    tasks = {
        "default": {"BACKEND": "django.tasks.backends.immediate.ImmediateBackend"},
        "queue": {"BACKEND": BACKEND_PATH},
    }
    with override_settings(TASKS=tasks):
        assert run_taskflow_checks() == []


def test_a_subclass_of_taskflow_backend_passes_w001() -> None:
    tasks = {"default": {"BACKEND": "tests.unit.test_checks.OurBackend"}}
    with override_settings(TASKS=tasks):
        assert run_taskflow_checks() == []


class OurBackend(TaskflowBackend):
    """A project's own subclass: still django_taskflow's backend."""


def test_the_backend_without_the_app_in_installed_apps_says_to_add_it(tmp_path: Path) -> None:
    # A fresh process: the fault was the backend's module failing to import
    # (the models' RuntimeError about an explicit app_label) before any check.
    (tmp_path / "without_app_settings.py").write_text(
        "from testproject.settings import *  # noqa: F403\n"
        "INSTALLED_APPS = [app for app in INSTALLED_APPS  # noqa: F405\n"
        '                  if app not in ("django_taskflow", "testproject.demo")]\n'
    )
    script = (
        "import django; django.setup()\n"
        "from django.tasks import task_backends\n"
        "from django_taskflow.exceptions import ConfigurationError\n"
        "try:\n"
        "    task_backends['default']\n"
        "except ConfigurationError as exc:\n"
        "    print(exc)\n"
    )
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "without_app_settings",
        "PYTHONPATH": f"{tmp_path}{os.pathsep}{ROOT}",
    }
    finished = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert finished.stdout.strip() == (
        "TASKS['default'] uses django_taskflow's TaskflowBackend, but 'django_taskflow' is "
        "not in INSTALLED_APPS: add it, then run `manage.py migrate` to create its tables."
    ), finished.stderr


# taskflow.W004: a dedup TTL that a RETENTION outlasts


def send_digest(user_id: int) -> None:
    """Made a task with the options of each test below."""


def dedup_checks(retention: dict[str, str] | None, **options: Any) -> list[checks.CheckMessage]:
    """Define a task with ``options`` and run the checks with ``retention`` in OPTIONS."""
    from datetime import timedelta

    from django_taskflow import Dedup, registry, task

    backend = {**settings.TASKS["default"]}
    if retention is not None:
        backend["OPTIONS"] = {**backend.get("OPTIONS", {}), "RETENTION": retention}
    known = dict(registry._known)  # the definition below is known only in this test
    try:
        with override_settings(TASKS={**settings.TASKS, "default": backend}):
            options.setdefault("dedup", Dedup.by_input(ttl=timedelta(days=2)))

            task(**options)(send_digest)
            return [m for m in run_taskflow_checks() if m.id == "taskflow.W004"]
    finally:
        registry._known = known


def test_a_dedup_ttl_longer_than_a_retention_is_warning_w004() -> None:
    [message] = dedup_checks({"succeeded": "1h", "failed": "30d"})

    assert message.level == checks.WARNING
    assert message.obj.endswith("send_digest")
    assert "deduplicates for 2d, longer than TASKS['default']['OPTIONS']['RETENTION']" in (
        message.msg
    )
    assert "keeps succeeded tasks (1h)" in message.msg
    assert "an identical call within the TTL enqueues another task" in message.msg


@pytest.mark.parametrize(
    ("retention", "options"),
    [
        (None, {}),
        ({"succeeded": "2d", "failed": "30d"}, {}),
        ({"succeeded": "1h"}, {"dedup": None, "unique": True}),
        ({"succeeded": "1h"}, {"dedup": "debounced"}),
    ],
    ids=["no-retention", "retention-as-long", "unique", "debounced"],
)
def test_w004_is_silent_when_the_key_cannot_outlive_its_task(
    retention: dict[str, str] | None, options: dict[str, Any]
) -> None:
    from datetime import timedelta

    from django_taskflow import Dedup

    if options.get("dedup") == "debounced":
        options["dedup"] = Dedup.by_input(ttl=timedelta(days=2), debounce=timedelta(seconds=5))
    assert dedup_checks(retention, **options) == []


def test_malformed_encryption_keys_are_error_e002_without_showing_the_keys() -> None:
    short_key = "c2hvcnQ="  # base64 of 5 bytes, not 32
    backend = make_backend({"ENCRYPTION_KEYS": [{"id": "k1", "key": short_key}]})

    [message] = backend.check()

    assert message.id == "taskflow.E002"
    assert "keys of 32 bytes in base64" in message.msg and "'k1'" in message.msg
    assert short_key not in message.msg


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("not json", "TASKFLOW_ENCRYPTION_KEYS must be a JSON list of keys; it is not JSON."),
        (
            "null",
            'TASKFLOW_ENCRYPTION_KEYS must be a JSON list of {"id": ..., "key": ...}; it is null.',
        ),
        (
            '{"id": "k1"}',
            'TASKFLOW_ENCRYPTION_KEYS must be a list of {"id": ..., "key": base64 of 32 bytes}.',
        ),
    ],
)
def test_malformed_keys_in_the_environment_are_error_e002(
    monkeypatch: pytest.MonkeyPatch, value: str, expected: str
) -> None:
    monkeypatch.setenv("TASKFLOW_ENCRYPTION_KEYS", value)

    [message] = make_backend({}).check()

    assert (message.id, message.obj) == ("taskflow.E002", "TASKFLOW_ENCRYPTION_KEYS")
    assert message.msg == expected


def test_a_16_byte_key_and_ids_equal_but_for_case_are_error_e002() -> None:
    key = base64.b64encode(b"1" * 32).decode()
    aes_128 = base64.b64encode(b"1" * 16).decode()

    [short] = make_backend({"ENCRYPTION_KEYS": [{"id": "k1", "key": aes_128}]}).check()
    [twice] = make_backend(
        {"ENCRYPTION_KEYS": [{"id": "k1", "key": key}, {"id": "K1", "key": key}]}
    ).check()

    assert short.id == twice.id == "taskflow.E002"
    assert "keys of 32 bytes in base64" in short.msg and aes_128 not in short.msg
    assert "distinct ids (ignoring case); 'K1' is there twice" in twice.msg
    assert key not in twice.msg


def test_an_encrypted_task_without_keys_is_error_e007(monkeypatch: pytest.MonkeyPatch) -> None:
    import tests.encrypted_tasks  # noqa: F401  # registers the encrypted tasks

    monkeypatch.delenv("TASKFLOW_ENCRYPTION_KEYS")
    messages = make_backend({}).check()

    assert [message.id for message in messages] == ["taskflow.E007"]
    assert "tests.encrypted_tasks.treat" in messages[0].msg
    assert make_backend({"ENCRYPTION_KEYS": [{"id": "k", "key": "a" * 43 + "="}]}).check() == []
