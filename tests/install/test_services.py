"""``scripts/services.sh``: start PostgreSQL when it is down, stop only what it started.

The PostgreSQL tools are replaced by stand-ins on PATH that record their
calls, so the test neither needs nor disturbs the real server.
"""

from __future__ import annotations

import os
import subprocess
import textwrap
from pathlib import Path

import pytest

from tests.conftest import ROOT

PORT = "5999"


@pytest.fixture
def tools(tmp_path: Path) -> Path:
    """Stand-in pg_isready and pg_ctlcluster, and one cluster configured on PORT."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    state = tmp_path / "running"
    calls = tmp_path / "calls"
    (bin_dir / "pg_isready").write_text(f"#!/bin/sh\ntest -e {state}\n")
    (bin_dir / "pg_ctlcluster").write_text(
        textwrap.dedent(
            f"""\
            #!/bin/sh
            # pg_ctlcluster --skip-systemctl-redirect VERSION CLUSTER ACTION
            echo "$4 $2" >> {calls}
            case $4 in start) touch {state} ;; stop) rm -f {state} ;; esac
            """
        )
    )
    for tool in bin_dir.iterdir():
        tool.chmod(0o755)
    conf = tmp_path / "clusters" / "15" / "main"
    conf.mkdir(parents=True)
    (conf / "postgresql.conf").write_text(f"port = {PORT}\t\t# (change requires restart)\n")
    return tmp_path


def run_services(tools: Path, commands: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "PATH": f"{tools / 'bin'}{os.pathsep}{os.environ['PATH']}",
        "TASKFLOW_PG_PORT": PORT,
        "TASKFLOW_PG_CLUSTERS": str(tools / "clusters"),
        "TASKFLOW_SERVICE_WAIT": "5",
    }
    return subprocess.run(
        ["bash", "-c", f"source scripts/services.sh\n{commands}"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def calls(tools: Path) -> list[str]:
    log = tools / "calls"
    return log.read_text().splitlines() if log.exists() else []


def test_postgres_that_is_down_is_started_and_then_stopped(tools: Path) -> None:
    completed = run_services(tools, "ensure_postgres && stop_started_services")

    assert completed.returncode == 0, completed.stderr
    assert calls(tools) == ["start 15", "stop 15"]
    assert not (tools / "running").exists()


def test_postgres_that_was_running_is_left_running(tools: Path) -> None:
    (tools / "running").touch()

    completed = run_services(tools, "ensure_postgres && stop_started_services")

    assert completed.returncode == 0, completed.stderr
    assert calls(tools) == []
    assert (tools / "running").exists()


def test_postgres_that_cannot_be_started_is_reported_as_missing(tools: Path) -> None:
    (tools / "clusters" / "15" / "main" / "postgresql.conf").write_text("port = 5433\n")

    completed = run_services(tools, "ensure_postgres")

    assert completed.returncode == 1
    assert f"MISSING: PostgreSQL is not answering on 127.0.0.1:{PORT}" in completed.stderr
    assert calls(tools) == []
