"""Task path to definition: what the worker runs for a row."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from django_taskflow import registry
from django_taskflow.exceptions import UnknownTask
from tests import tasks
from tests.tasks import add as aliased_add


def test_resolve_returns_the_definition_for_its_path() -> None:
    assert registry.resolve("tests.tasks.add") is tasks.add


def test_resolve_imports_and_registers_a_definition_not_seen_yet(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(registry, "_known", {})

    assert registry.resolve("tests.tasks.echo") is tasks.echo
    assert registry.known_paths() == ["tests.tasks.echo"]


def test_known_paths_are_sorted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(registry, "_known", {})
    for definition in [tasks.noop, tasks.add, tasks.echo]:
        registry.register(definition)

    assert registry.known_paths() == ["tests.tasks.add", "tests.tasks.echo", "tests.tasks.noop"]


@pytest.mark.parametrize(
    "path",
    [
        "tests.no_such_module.job",
        "tests.tasks.no_such_task",
        "not_a_dotted_path",
    ],
)
def test_path_that_cannot_be_imported_is_an_unknown_task(path: str) -> None:
    with pytest.raises(
        UnknownTask, match=re.escape(f"No task named '{path}': it cannot be imported")
    ):
        registry.resolve(path)


def test_unknown_task_is_an_import_error() -> None:
    with pytest.raises(ImportError, match=re.escape("tests.tasks.no_such_task")):
        registry.resolve("tests.tasks.no_such_task")


@pytest.mark.parametrize(
    "path", ["django_taskflow.payloads.encode_result", "django_taskflow.states.FINISHED"]
)
def test_path_to_something_else_than_a_task_is_an_unknown_task(path: str) -> None:
    with pytest.raises(UnknownTask, match=re.escape(f"'{path}' is not a task definition")):
        registry.resolve(path)


def test_path_to_a_task_imported_under_another_name_is_an_unknown_task() -> None:
    assert aliased_add is tasks.add
    with pytest.raises(UnknownTask, match="is not a task definition"):
        registry.resolve(f"{__name__}.aliased_add")


def test_module_that_fails_to_import_is_an_unknown_task(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "taskflow_unit_broken_jobs.py").write_text(
        'raise RuntimeError("settings missing at import")\n'
    )
    monkeypatch.syspath_prepend(tmp_path)

    with pytest.raises(UnknownTask, match=re.escape("taskflow_unit_broken_jobs.job")):
        registry.resolve("taskflow_unit_broken_jobs.job")
