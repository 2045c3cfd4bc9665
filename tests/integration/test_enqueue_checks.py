"""Mistakes refused at enqueue, with an error that says what to do, not later in the worker."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from django_taskflow import models, task
from django_taskflow.exceptions import MigrationsNotApplied, UnimportableTask
from tests import tasks
from tests.conftest import ROOT

pytestmark = pytest.mark.django_db


# Arguments bound to the signature


@pytest.mark.parametrize(
    ("definition", "args", "kwargs"),
    [
        (tasks.add, (1,), {}),
        (tasks.add, (1, 2), {"c": 3}),
        (tasks.add, (1, 2, 3), {}),
        (tasks.add, (1,), {"a": 2}),
        (tasks.noop, (1,), {}),
        (tasks.fail_until_attempt, (), {}),  # takes_context: the context is not counted
        # Positional-only, given by keyword: Signature.bind alone lets it into **options.
        (tasks.positional_only_with_options, (), {"path": "a"}),
    ],
)
def test_arguments_that_do_not_fit_raise_the_type_error_of_a_direct_call(
    definition: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> None:
    call_args = (None, *args) if definition.takes_context else args
    with pytest.raises(TypeError) as direct:
        definition.func(*call_args, **kwargs)

    with pytest.raises(TypeError) as enqueued:
        definition.enqueue(*args, **kwargs)

    name = definition.func.__qualname__
    assert str(direct.value).startswith(f"{name}() ")
    assert str(enqueued.value).startswith(f"{name}() ")
    assert models.Task.objects.count() == 0


def test_a_positional_only_argument_may_also_be_named_in_kwargs() -> None:
    tasks.positional_only_with_options.enqueue("a", path="b")  # a direct call accepts it

    assert models.Task.objects.get().kwargs == {"path": "b"}


def test_enqueue_many_binds_every_call_and_writes_none_when_one_does_not_fit() -> None:
    with pytest.raises(TypeError, match=r"^add\(\) missing a required argument: 'b'"):
        tasks.add.enqueue_many([(1, 2), {"a": 1}])

    assert models.Task.objects.count() == 0


@pytest.mark.parametrize(
    ("args", "kwargs"),
    [((1, 2), {}), ((1,), {"b": 2}), ((), {"a": 1, "b": 2})],
)
def test_arguments_that_fit_are_enqueued(args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    tasks.add.enqueue(*args, **kwargs)

    assert models.Task.objects.count() == 1


def test_context_task_is_enqueued_without_its_context() -> None:
    tasks.fail_until_attempt.enqueue(2)
    tasks.fail_until_attempt.enqueue(succeed_on=2)

    assert models.Task.objects.count() == 2


# Tasks the worker cannot import


def defined_in(module: str, name: str = "double") -> Any:
    """A definition whose function claims to live at ``module.name``."""

    def double(value: int) -> int:
        return value * 2

    double.__module__ = module
    double.__qualname__ = name
    return task(double)


def test_a_task_defined_in_main_is_refused_at_enqueue() -> None:
    with pytest.raises(UnimportableTask) as info:
        defined_in("__main__").enqueue(2)

    message = str(info.value)
    assert "The worker cannot import task '__main__.double'" in message
    assert "defined in __main__" in message
    assert "top level of a module the worker imports, such as an app's tasks.py" in message
    assert models.Task.objects.count() == 0


def test_a_task_whose_path_does_not_import_back_is_refused_at_enqueue() -> None:
    with pytest.raises(UnimportableTask, match=r"importing 'tests.tasks.double' fails"):
        defined_in("tests.tasks").enqueue(2)

    assert models.Task.objects.count() == 0


def test_a_task_whose_path_leads_to_another_object_is_refused_at_enqueue() -> None:
    with pytest.raises(
        UnimportableTask, match=r"'tests.tasks.add' imports as .*, not as this task"
    ):
        defined_in("tests.tasks", name="add").enqueue(2)


double_lambda = lambda value: value * 2  # noqa: E731  # a lambda at module level


def test_a_lambda_task_is_refused_naming_the_lambda() -> None:
    with pytest.raises(UnimportableTask, match=r"it is a lambda, which has no name to import"):
        task(double_lambda).enqueue(2)

    assert models.Task.objects.count() == 0


class Jobs:
    @staticmethod
    def double(value: int) -> int:
        return value * 2


def test_a_task_defined_in_a_class_is_refused_naming_the_class() -> None:
    with pytest.raises(UnimportableTask) as info:
        task(Jobs.double).enqueue(2)

    assert "it is defined inside Jobs, and the worker imports only names at the top level" in str(
        info.value
    )
    assert models.Task.objects.count() == 0


def test_a_copy_made_with_using_imports_back_to_its_function() -> None:
    tasks.add.using(priority=5).enqueue(1, 2)

    assert models.Task.objects.count() == 1


def run_script(tmp_path: Path, *command: str, code: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "testproject.settings", "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, *command, textwrap.dedent(code)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


REPORT = """
from django_taskflow import task
from django_taskflow.exceptions import UnimportableTask

@task
def double(value: int) -> int:
    return value * 2

try:
    double.enqueue(2)
except UnimportableTask as exc:
    print("refused:", exc)
"""


def test_a_task_defined_in_a_script_is_refused_at_enqueue(tmp_path: Path) -> None:
    script = "import django\ndjango.setup()\n" + REPORT

    finished = run_script(tmp_path, "-c", code=script)

    assert "refused: The worker cannot import task '__main__.double'" in finished.stdout, (
        finished.stderr
    )


def test_a_task_defined_in_manage_py_shell_is_refused_at_enqueue(tmp_path: Path) -> None:
    finished = run_script(tmp_path, "manage.py", "shell", "-c", code=REPORT)

    assert "refused: The worker cannot import task" in finished.stdout, finished.stderr
    assert "`manage.py shell`" in finished.stdout


# Enqueue before migrate


def test_enqueue_before_migrate_says_to_run_migrate(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(models.Task._meta, "db_table", "django_taskflow_not_migrated")

    with pytest.raises(MigrationsNotApplied) as info:
        tasks.add.enqueue(1, 2)

    message = str(info.value)
    assert "The table django_taskflow_not_migrated does not exist in database 'default'" in message
    assert "run `manage.py migrate`" in message
    # One line: PostgreSQL's own message goes on with the statement and a caret.
    assert "\n" not in message
    assert message.endswith(").")


def test_enqueue_many_before_migrate_says_to_run_migrate(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(models.Task._meta, "db_table", "django_taskflow_not_migrated")

    with pytest.raises(MigrationsNotApplied, match=r"manage\.py migrate"):
        tasks.add.enqueue_many([(1, 2), (3, 4)])
