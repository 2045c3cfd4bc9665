"""``taskworker --reload``: an edited task module runs its new code without a manual restart."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from tests.conftest import ROOT, database_url, wait_for
from tests.process_tree import descendants, is_alive, kill_all

pytestmark = pytest.mark.processes

TASK_MODULE = """\
from django_taskflow import task


@task
def version() -> str:
    return {answer!r}
"""


def write_task_module(package: Path, answer: str) -> None:
    (package / "tasks.py").write_text(TASK_MODULE.format(answer=answer))


@pytest.fixture
def reloadable_app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An app, ``reloadable``, in a folder on PYTHONPATH, with settings that install it."""
    package = tmp_path / "reloadable"
    package.mkdir()
    (package / "__init__.py").write_text("")
    write_task_module(package, "first")
    (tmp_path / "reload_settings.py").write_text(
        textwrap.dedent(
            """\
            from testproject.settings import *  # noqa: F403

            INSTALLED_APPS = [*INSTALLED_APPS, "reloadable"]  # noqa: F405
            """
        )
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    return package


@pytest.fixture
def reloading_worker(
    transactional_db: None, reloadable_app: Path, tmp_path: Path
) -> Iterator[tuple[subprocess.Popen[str], Path]]:
    """``manage.py taskworker --reload`` with the ``reloadable`` app installed."""
    log = tmp_path / "worker.log"
    env = {
        **os.environ,
        "DATABASE_URL": database_url(),
        "DJANGO_SETTINGS_MODULE": "reload_settings",
        "PYTHONPATH": f"{reloadable_app.parent}{os.pathsep}{ROOT}",
        "TASKFLOW_LOG_LEVEL": "INFO",
    }
    with log.open("w") as output:
        process = subprocess.Popen(
            [sys.executable, "manage.py", "taskworker", "--reload"],
            cwd=ROOT,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
    seen: set[int] = set()
    try:
        yield process, log
    finally:
        seen |= descendants(process.pid)
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
        kill_all(seen)
        # Captured, so pytest shows it only when the test failed.
        sys.stdout.write(f"--- log of the reloading worker ---\n{log.read_text()}\n")


def run_one_task() -> str:
    """Enqueue ``reloadable.tasks.version`` and return what the worker ran."""
    from reloadable.tasks import version

    answer: str = version.enqueue().wait(timeout=30).return_value
    return answer


def test_reload_runs_the_edited_task_code(
    reloading_worker: tuple[subprocess.Popen[str], Path], reloadable_app: Path
) -> None:
    process, log = reloading_worker

    assert run_one_task() == "first"
    wait_for(lambda: "watching for code changes" in log.read_text())
    workers_before = descendants(process.pid)

    def edit_and_see_restart() -> bool:
        # Saved again on each poll: the reloader compares modification
        # times, and its first look may come after an early edit.
        write_task_module(reloadable_app, "second")
        return "reloadable/tasks.py changed" in log.read_text()

    wait_for(edit_and_see_restart, interval=0.5)
    # Enqueued before the old worker heard of the change, a task may still
    # run the old code: wait for the new worker.
    wait_for(lambda: log.read_text().count("watching for code changes") == 2)
    assert run_one_task() == "second"
    assert process.poll() is None, "the --reload parent exited instead of restarting"
    assert not any(is_alive(pid) for pid in workers_before), "the old worker is still running"
    assert log.read_text().count("development only") >= 2  # the banner, once per start


def test_a_mistake_saved_in_a_task_module_does_not_end_reload(
    reloading_worker: tuple[subprocess.Popen[str], Path], reloadable_app: Path
) -> None:
    process, log = reloading_worker
    assert run_one_task() == "first"
    wait_for(lambda: "watching for code changes" in log.read_text())
    module = reloadable_app / "tasks.py"

    def saved_until(text: str, seen: Callable[[str], bool]) -> Callable[[], bool]:
        def save_and_look() -> bool:
            # Saved again on each poll, as above: the reloader compares times.
            module.write_text(text)
            return seen(log.read_text())

        return save_and_look

    wait_for(
        saved_until("def version(:\n", lambda text: "it starts again when a file changes" in text),
        interval=0.5,
        timeout=60,
    )
    assert "SyntaxError" in log.read_text()
    assert process.poll() is None, "the --reload parent exited on the broken module"

    wait_for(
        saved_until(
            TASK_MODULE.format(answer="fixed"),
            lambda text: text.count("watching for code changes") == 2,
        ),
        interval=0.5,
        timeout=60,
    )
    assert run_one_task() == "fixed"
    assert process.poll() is None


def test_stopping_a_reloading_worker_stops_its_child(
    reloading_worker: tuple[subprocess.Popen[str], Path],
) -> None:
    process, _log = reloading_worker
    run_one_task()  # the worker is up, with its slot
    children = descendants(process.pid)
    assert children, "the --reload parent runs the worker as a child"

    process.send_signal(signal.SIGTERM)

    assert process.wait(timeout=60) == 0
    assert not any(is_alive(pid) for pid in children)


def test_worker_stops_when_its_reload_parent_is_killed(
    reloading_worker: tuple[subprocess.Popen[str], Path],
) -> None:
    process, log = reloading_worker
    run_one_task()
    children = descendants(process.pid)

    process.kill()  # no chance to relay anything
    process.wait(timeout=10)

    wait_for(lambda: not any(is_alive(pid) for pid in children), timeout=30)
    assert "the --reload parent" in log.read_text()


def test_reload_cannot_be_combined_with_burst() -> None:
    with pytest.raises(CommandError, match="--reload and --burst"):
        call_command("taskworker", "--reload", "--burst")
