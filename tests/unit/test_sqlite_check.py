"""System check taskflow.W002: a SQLite database without the settings a queue needs."""

from __future__ import annotations

import ast
import re
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from django_taskflow import backend as backend_module
from django_taskflow.backend import TaskflowBackend
from django_taskflow.sqlite_check import RECOMMENDED_OPTIONS

ROOT = Path(__file__).resolve().parents[2]


def check_with_database(
    monkeypatch: pytest.MonkeyPatch, settings_dict: dict[str, Any], vendor: str = "sqlite"
) -> list[Any]:
    database = SimpleNamespace(vendor=vendor, settings_dict=settings_dict)
    monkeypatch.setattr(backend_module, "connections", {"default": database})
    backend = TaskflowBackend(
        "default", {"BACKEND": "django_taskflow.backend.TaskflowBackend", "OPTIONS": {}}
    )
    return [message for message in backend.check() if message.id == "taskflow.W002"]


def pasted_options(hint: str) -> dict[str, Any]:
    """The OPTIONS dict that the hint tells the user to paste."""
    body = hint.split('"OPTIONS": ', 1)[1]
    return dict(ast.literal_eval(body))


def test_django_default_sqlite_settings_get_w001_with_the_options_to_paste(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    [message] = check_with_database(
        monkeypatch, {"ENGINE": "django.db.backends.sqlite3", "NAME": "db.sqlite3", "OPTIONS": {}}
    )

    assert "write-ahead logging" in message.msg
    assert "IMMEDIATE transactions" in message.msg
    assert "busy timeout" in message.msg
    assert message.obj == "DATABASES['default']['OPTIONS']"
    assert pasted_options(message.hint) == RECOMMENDED_OPTIONS


def test_the_pasted_options_satisfy_the_check(monkeypatch: pytest.MonkeyPatch) -> None:
    [message] = check_with_database(monkeypatch, {"NAME": "db.sqlite3"})

    settings_dict = {"NAME": "db.sqlite3", "OPTIONS": pasted_options(message.hint)}

    assert check_with_database(monkeypatch, settings_dict) == []


@pytest.mark.parametrize(
    ("options", "named", "not_named"),
    [
        (
            {"transaction_mode": "IMMEDIATE", "timeout": 30},
            "write-ahead logging",
            "IMMEDIATE transactions",
        ),
        (
            {"init_command": "PRAGMA journal_mode = wal;", "timeout": 30},
            "IMMEDIATE transactions",
            "write-ahead logging",
        ),
        (
            {"init_command": "PRAGMA journal_mode=WAL;", "transaction_mode": "IMMEDIATE"},
            "busy timeout",
            "write-ahead logging",
        ),
        (
            {
                "init_command": "PRAGMA journal_mode=WAL;",
                "transaction_mode": "IMMEDIATE",
                "timeout": 5,
            },
            "busy timeout",
            "IMMEDIATE transactions",
        ),
    ],
)
def test_w001_names_only_what_is_missing(
    monkeypatch: pytest.MonkeyPatch, options: dict[str, Any], named: str, not_named: str
) -> None:
    [message] = check_with_database(monkeypatch, {"NAME": "db.sqlite3", "OPTIONS": options})

    assert named in message.msg
    assert not_named not in message.msg


def test_recommended_sqlite_settings_pass(monkeypatch: pytest.MonkeyPatch) -> None:
    settings_dict = {"NAME": "db.sqlite3", "OPTIONS": dict(RECOMMENDED_OPTIONS)}

    assert check_with_database(monkeypatch, settings_dict) == []


def test_in_memory_sqlite_and_postgresql_are_not_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    assert check_with_database(monkeypatch, {"NAME": ":memory:"}) == []
    assert check_with_database(monkeypatch, {"NAME": "tasks"}, vendor="postgresql") == []


def test_the_tutorial_shows_the_recommended_options() -> None:
    tutorial = (ROOT / "docs" / "tutorial.md").read_text()
    block = re.search(r'"OPTIONS": (\{.*?\n        \})', tutorial, re.DOTALL)

    assert block is not None
    assert ast.literal_eval(block.group(1)) == RECOMMENDED_OPTIONS
