"""``make demo`` stops its worker and its web server however it is stopped."""

from __future__ import annotations

import fcntl
import json
import os
import pty
import re
import signal
import socket
import subprocess
import sys
import termios
import threading
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from django.db import connection

from tests.conftest import ROOT, wait_for
from tests.process_tree import descendants, is_alive, kill_all

pytestmark = [
    pytest.mark.processes,
    pytest.mark.skipif(
        connection.vendor != "sqlite", reason="the demo runs on SQLite: one pass is enough"
    ),
]


WORKER_PID = re.compile(r"worker started \(pid (\d+)\)")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def admin_answers(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/admin/login/", timeout=2) as page:
            return bool(page.status == 200)
    except OSError:
        return False


class Demo:
    """``scripts/demo.sh`` in a terminal of its own (a pseudo-terminal), as a user runs it.

    It serves on a free port, keeps its database in a temporary folder, and
    its terminal output is copied to ``log``.
    """

    def __init__(self, tmp_path: Path) -> None:
        self.port = free_port()
        self.log = tmp_path / "demo.log"
        var_dir = tmp_path / "var"
        var_dir.mkdir()
        env = {
            name: value
            for name, value in os.environ.items()
            if name not in {"DATABASE_URL", "DJANGO_SETTINGS_MODULE", "PYTHONPATH"}
        }
        env |= {
            "TASKFLOW_VAR_DIR": str(var_dir),
            "TASKFLOW_DEMO_PORT": str(self.port),
            # This venv's python, not a bootstrap of .venv.
            "TASKFLOW_DEMO_NO_BOOTSTRAP": "1",
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
        }
        self.terminal, user_side = pty.openpty()
        self.process = subprocess.Popen(
            ["bash", "scripts/demo.sh"],
            cwd=ROOT,
            env=env,
            stdin=user_side,
            stdout=user_side,
            stderr=user_side,
            start_new_session=True,
            # The terminal becomes the new session's controlling terminal, so
            # closing it hangs up the demo as closing a terminal window does.
            preexec_fn=lambda: fcntl.ioctl(0, termios.TIOCSCTTY, 0),
        )
        os.close(user_side)
        self.copier = threading.Thread(target=self._copy_output, daemon=True)
        self.copier.start()
        self.seen: set[int] = set()

    def _copy_output(self) -> None:
        with self.log.open("ab") as log:
            while True:
                try:
                    chunk = os.read(self.terminal, 4096)
                except OSError:  # the terminal was closed, or the demo has gone
                    return
                if not chunk:
                    return
                log.write(chunk)
                log.flush()

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_until_serving(self) -> None:
        wait_for(lambda: admin_answers(self.port), timeout=120)
        worker = int(wait_for(lambda: WORKER_PID.search(self.output()), timeout=60)[1])
        wait_for(lambda: len(descendants(worker)) == 2, timeout=60)  # its two slots
        # The demo's schedule fires through the worker's scheduler.
        wait_for(lambda: "schedule demo-heartbeat fired" in self.output(), timeout=60)
        self.seen = descendants(self.process.pid)

    def close_terminal(self) -> None:
        os.close(self.terminal)
        self.terminal = -1

    def clean_up(self) -> None:
        self.seen |= descendants(self.process.pid)
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)
        kill_all(self.seen)
        if self.terminal >= 0:
            os.close(self.terminal)


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[Demo]:
    running = Demo(tmp_path)
    yield running
    running.clean_up()


@pytest.mark.parametrize(
    "stop",
    [
        pytest.param(Demo.close_terminal, id="terminal-closed"),
        pytest.param(lambda demo: os.write(demo.terminal, b"\x03"), id="ctrl-c"),
        pytest.param(lambda demo: os.kill(demo.process.pid, signal.SIGHUP), id="sighup"),
        pytest.param(lambda demo: os.kill(demo.process.pid, signal.SIGTERM), id="sigterm"),
    ],
)
def test_stopping_the_demo_leaves_no_process_behind(
    demo: Demo, stop: Callable[[Demo], object]
) -> None:
    demo.wait_until_serving()
    started = demo.seen
    assert any(b"taskworker" in Path(f"/proc/{pid}/cmdline").read_bytes() for pid in started)
    assert any(b"runserver" in Path(f"/proc/{pid}/cmdline").read_bytes() for pid in started)

    stop(demo)
    demo.process.wait(timeout=60)

    left = {pid for pid in started if is_alive(pid)}
    assert not left, f"still running after the demo stopped: {left}\n{demo.output()}"


PASSWORD = re.compile(r"Password:\s+(\S+)")


def sign_in(port: int, password: str) -> str:
    """Log in through the admin's form as the demo's admin; return the session cookie."""
    import http.cookiejar

    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    login = f"http://127.0.0.1:{port}/admin/login/"
    opener.open(login, timeout=10).read()
    token = next(cookie.value for cookie in jar if cookie.name == "csrftoken")
    form = urllib.parse.urlencode(
        {"username": "admin", "password": password, "csrfmiddlewaretoken": token, "next": "/admin/"}
    ).encode()
    opener.open(urllib.request.Request(login, data=form, headers={"Referer": login}), timeout=10)
    return next(cookie.value for cookie in jar if cookie.name == "sessionid")


def test_demo_serves_live_progress_over_its_websocket(demo: Demo) -> None:
    from websockets.sync.client import connect

    demo.wait_until_serving()
    match = wait_for(lambda: PASSWORD.search(demo.output()), timeout=30)
    session = sign_in(demo.port, match.group(1))

    with connect(
        f"ws://127.0.0.1:{demo.port}/ws/taskflow/",
        origin=f"http://127.0.0.1:{demo.port}",  # type: ignore[arg-type]
        additional_headers={"Cookie": f"sessionid={session}"},
    ) as websocket:
        websocket.send(json.dumps({"type": "subscribe", "all": True}))
        assert json.loads(websocket.recv(timeout=30))["type"] == "subscribed"
        # The demo's worker runs its example tasks, build_report reporting progress.
        frame = json.loads(websocket.recv(timeout=60))
    assert frame["type"] == "task"
    assert frame["status"] in {"queued", "running", "succeeded", "failed", "cancelled"}
