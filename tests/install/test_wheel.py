"""The built wheel installs into a fresh venv and runs a project's tasks there.

What a user gets from ``pip install``: the test builds the sdist and the wheel
from a copy of the checkout, installs the wheel (not editable) into a venv
that sees neither the checkout nor the development venv, then, in a minimal
project made here, runs ``migrate``, enqueues a task, drains it with
``taskworker --burst`` and reads the result back.

The fresh venv's dependencies are resolved by pip from the wheel's own
metadata, so a dependency missing from ``pyproject.toml`` fails here. They
are pinned (``--constraint``) to the versions of the development venv, so the
test does not drift with new releases and pip's cache serves them without a
download after the first run. On the PostgreSQL pass the wheel is installed
with its ``[postgres]`` extra and the project uses a scratch database.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.db import connection

from tests.conftest import ROOT

pytestmark = pytest.mark.install

DISTRIBUTION = "django_taskflow_queue"
# Left out of the copy that is built: local state, never part of a release.
NOT_BUILT = shutil.ignore_patterns(
    ".git", ".venv", "var", "build", "dist", "*.egg-info", "__pycache__", ".*_cache"
)
STEP_TIMEOUT = 180


def run(args: list[str | Path], *, cwd: Path, env: dict[str, str] | None = None) -> str:
    """Run a command; fail the test with its output if it fails."""
    completed = subprocess.run(
        [str(arg) for arg in args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=STEP_TIMEOUT,
        check=False,
    )
    if completed.returncode != 0:
        pytest.fail(
            f"{' '.join(map(str, args))} exited with {completed.returncode}\n"
            f"stdout:\n{completed.stdout}\nstderr:\n{completed.stderr}"
        )
    return completed.stdout


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Build the sdist, then the wheel from it, as ``python -m build`` does."""
    source = tmp_path_factory.mktemp("source") / "checkout"
    shutil.copytree(ROOT, source, ignore=NOT_BUILT)
    dist = source / "dist"
    # --no-isolation: the build backend comes from the development venv
    # (the dev extra), so building needs no download.
    run([sys.executable, "-m", "build", "--no-isolation", "--outdir", dist, source], cwd=source)
    (built,) = dist.glob(f"{DISTRIBUTION}-*.whl")
    return built


def dependency_pins(tmp_path: Path) -> Path:
    """A constraints file holding the development venv's versions."""
    frozen = run([sys.executable, "-m", "pip", "freeze", "--exclude-editable"], cwd=tmp_path)
    pins = tmp_path / "constraints.txt"
    pins.write_text(frozen)
    return pins


def clean_environment(venv: Path) -> dict[str, str]:
    """This process's environment without anything that points at the checkout."""
    env = {
        name: value
        for name, value in os.environ.items()
        if name
        not in {"PYTHONPATH", "DJANGO_SETTINGS_MODULE", "VIRTUAL_ENV", "DATABASE_URL", "RUN_MAIN"}
        and not name.startswith(("PYTEST_", "TASKFLOW_"))
    }
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    return env


@pytest.fixture
def project_database() -> Iterator[str]:
    """The minimal project's database: SQLite in its folder, or a scratch PostgreSQL one."""
    if connection.vendor != "postgresql":
        yield "sqlite"
        return
    import psycopg

    settings = connection.settings_dict
    server = {
        "host": settings.get("HOST") or "127.0.0.1",
        "port": settings.get("PORT") or 5432,
        "user": settings.get("USER") or "postgres",
        "dbname": "postgres",
    }
    name = f"{settings['NAME']}_wheel"
    with psycopg.connect(**server, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgres://{server['user']}@{server['host']}:{server['port']}/{name}"
    finally:
        with psycopg.connect(**server, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def write_project(folder: Path, database: str) -> None:
    """A new project with one app, ``shop``, whose ``tasks.py`` defines ``add``."""
    if database == "sqlite":
        databases = (
            '{"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": BASE_DIR / "db.sqlite3"}}'
        )
    else:
        user_host_port, name = database.removeprefix("postgres://").rsplit("/", 1)
        user, host_port = user_host_port.split("@")
        host, port = host_port.split(":")
        databases = (
            '{"default": {"ENGINE": "django.db.backends.postgresql", '
            f'"NAME": "{name}", "USER": "{user}", "HOST": "{host}", "PORT": "{port}"}}}}'
        )
    (folder / "mysite").mkdir()
    (folder / "mysite" / "__init__.py").write_text("")
    (folder / "mysite" / "settings.py").write_text(
        textwrap.dedent(
            f"""\
            from pathlib import Path

            BASE_DIR = Path(__file__).resolve().parent.parent
            SECRET_KEY = "wheel-test"
            USE_TZ = True
            INSTALLED_APPS = [
                "django.contrib.auth",
                "django.contrib.contenttypes",
                "django_taskflow",
                "shop",
            ]
            DATABASES = {databases}
            TASKS = {{"default": {{"BACKEND": "django_taskflow.backend.TaskflowBackend"}}}}
            """
        )
    )
    (folder / "shop").mkdir()
    (folder / "shop" / "__init__.py").write_text("")
    (folder / "shop" / "tasks.py").write_text(
        textwrap.dedent(
            """\
            from django_taskflow import task


            @task(max_attempts=2)
            def add(a: int, b: int) -> int:
                return a + b
            """
        )
    )
    (folder / "manage.py").write_text(
        textwrap.dedent(
            """\
            import os
            import sys

            from django.core.management import execute_from_command_line

            os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mysite.settings")
            execute_from_command_line(sys.argv)
            """
        )
    )


def test_wheel_ships_type_information_and_migrations(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())

    assert "django_taskflow/py.typed" in names
    assert "django_taskflow/migrations/0001_initial.py" in names
    assert "django_taskflow/management/commands/taskworker.py" in names
    assert not any(name.startswith(("tests/", "testproject/")) for name in names)


def test_wheel_installs_into_a_fresh_venv_and_runs_a_task(
    wheel: Path, tmp_path: Path, project_database: str
) -> None:
    venv = tmp_path / "venv"
    run([sys.executable, "-m", "venv", "--without-pip", venv], cwd=tmp_path)
    python = venv / "bin" / "python"
    requirement = f"{wheel}[postgres]" if project_database != "sqlite" else str(wheel)
    # The development venv's pip installs into the fresh one (pip --python).
    pip = [sys.executable, "-m", "pip", "--python", python]
    run(
        [*pip, "install", "--quiet", "--only-binary", ":all:", "--constraint",
         dependency_pins(tmp_path), requirement],
        cwd=tmp_path,
    )  # fmt: skip
    run([*pip, "check"], cwd=tmp_path)
    project = tmp_path / "project"
    project.mkdir()
    write_project(project, project_database)
    env = clean_environment(venv)

    def manage(*args: str) -> str:
        return run([python, "manage.py", *args], cwd=project, env=env)

    imported_from = manage(
        "shell", "-c", "import django_taskflow; print('FROM', django_taskflow.__file__)"
    )
    assert f"FROM {venv}" in imported_from, "django_taskflow was not imported from the wheel"
    manage("migrate", "--noinput")
    enqueued = manage(
        "shell", "-c", "from shop.tasks import add; print('ID', add.enqueue(2, 3).id)"
    )
    task_id = enqueued.split("ID ", 1)[1].split()[0]
    manage("taskworker", "--burst")
    finished = manage(
        "shell",
        "-c",
        f"from shop.tasks import add; r = add.get_result({task_id!r}); "
        "print('RESULT', r.status, r.return_value)",
    )

    assert "RESULT SUCCESSFUL 5" in finished


def test_type_checkers_read_the_installed_package(wheel: Path, tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    run([sys.executable, "-m", "venv", "--without-pip", venv], cwd=tmp_path)
    python = venv / "bin" / "python"
    run(
        [sys.executable, "-m", "pip", "--python", python, "install", "--quiet", "--no-deps", wheel],
        cwd=tmp_path,
    )
    user_code = tmp_path / "user_code.py"
    user_code.write_text(
        textwrap.dedent(
            """\
            from django_taskflow import task


            @task
            def add(a: int, b: int) -> int:
                return a + b


            reveal_type(add)
            """
        )
    )
    # The development venv's mypy, reading packages from the fresh venv.
    checked = subprocess.run(
        [sys.executable, "-m", "mypy", "--python-executable", str(python),
         "--cache-dir", str(tmp_path / "mypy-cache"), "--no-error-summary", str(user_code)],
        cwd=tmp_path, capture_output=True, text=True, timeout=STEP_TIMEOUT, check=False,
    )  # fmt: skip

    assert "py.typed" not in checked.stdout, checked.stdout
    assert 'Revealed type is "django_taskflow.definition.TaskflowTask"' in checked.stdout
