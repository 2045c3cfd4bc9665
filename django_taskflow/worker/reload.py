"""``taskworker --reload``: restart the worker when its code changes (development only).

Two processes. The one that was started only restarts: it runs the same
command again as a child, marked with Django's own ``RUN_MAIN=true``, and
starts it anew each time the child exits with :data:`RESTART_CODE`. The child
is the worker. It runs in the child's main thread as it would without
``--reload``, while Django's autoreloader (``autoreload.get_reloader()``:
Watchman when installed, else polling once a second) watches every imported
module from a thread. On a change the child stops the worker as SIGTERM
would (running tasks finish, nothing more is claimed) and exits with
``RESTART_CODE``. If the restarted child then fails (a syntax error saved in
a task module), the parent waits for the next change and starts it again.

Not ``autoreload.run_with_reloader()`` itself: it runs the main function in a
daemon thread, where the worker can neither install its signal handlers nor
safely fork its slots, and its restarting parent kills the child outright on
SIGTERM or Ctrl-C, which would cut running tasks short.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import threading
from pathlib import Path
from types import FrameType
from typing import Any

from django.utils import autoreload

logger = logging.getLogger(__name__)

# Django's own restart code: autoreload.trigger_reload() exits with it.
RESTART_CODE = 3
# Each asks the worker to stop; the parent relays it to the child as SIGTERM.
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
# How often the child checks that the restarting parent is still there.
PARENT_CHECK_SECONDS = 1.0


def is_reloaded_child() -> bool:
    """Whether this process is the worker that a ``--reload`` parent started."""
    return os.environ.get(autoreload.DJANGO_AUTORELOAD_ENV) == "true"


class _Relay:
    """Passes each stop signal the parent receives to the current child, once."""

    def __init__(self) -> None:
        self.child: subprocess.Popen[bytes] | None = None
        self.received = 0
        self.relayed = 0

    @property
    def is_stopping(self) -> bool:
        return self.received > 0

    def on_signal(self, signum: int, frame: FrameType | None) -> None:
        self.received += 1
        self._forward()

    def attach(self, child: subprocess.Popen[bytes]) -> None:
        self.child = child
        self.relayed = 0
        self._forward()  # a signal that came while the child was starting

    def _forward(self) -> None:
        # The first SIGTERM drains the worker; a second one stops it at once,
        # as a second Ctrl-C does without --reload.
        while self.child is not None and self.relayed < self.received:
            self.relayed += 1
            self.child.send_signal(signal.SIGTERM)


def restart_on_change() -> int:
    """Run this command as a child until it exits for another reason than a change.

    Return the child's last exit code (128 + N when signal N ended it).
    """
    arguments = autoreload.get_child_arguments()
    environment = {**os.environ, autoreload.DJANGO_AUTORELOAD_ENV: "true"}
    relay = _Relay()
    previous = {signum: signal.signal(signum, relay.on_signal) for signum in STOP_SIGNALS}
    restarted = False
    try:
        while True:
            # A session of its own, so that a Ctrl-C or a hang-up reaches the
            # worker once, relayed from here, rather than twice.
            child = subprocess.Popen(arguments, env=environment, start_new_session=True)  # noqa: S603
            relay.attach(child)
            code = child.wait()
            if relay.is_stopping or code == 0:
                return 128 - code if code < 0 else code
            if code == RESTART_CODE:
                restarted = True
                logger.info(
                    "restarting the worker with the changed code",
                    extra={"action": "worker_reloading"},
                )
                continue
            if not restarted or not _wait_for_a_fix(code, relay):
                # The code it started with fails: a mistake in the command or
                # the settings, which no edit the parent watches would fix.
                return 128 - code if code < 0 else code
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _wait_for_a_fix(code: int, relay: _Relay) -> bool:
    """After an edit broke the worker (say, a syntax error), wait for the next change.

    As ``runserver`` does, a mistake saved in a task module does not end
    ``--reload``: the worker starts again once a file changes. Watched here
    are the modules the parent imported, the project's as they were before
    the edit. Return False if a stop signal came first.
    """
    logger.error(
        "the worker exited with code %d after the code changed (its error is above); "
        "it starts again when a file changes",
        code,
        extra={"action": "worker_reload_failed"},
    )
    changed = threading.Event()

    def on_file_changed(sender: Any, file_path: Path, **kwargs: Any) -> bool:
        changed.set()
        return True  # handled: the reloader must not exit its own thread

    autoreload.file_changed.connect(on_file_changed, weak=False)
    reloader = autoreload.get_reloader()
    threading.Thread(
        target=reloader.run, args=(threading.main_thread(),), name="reloader", daemon=True
    ).start()
    try:
        while not changed.wait(PARENT_CHECK_SECONDS):
            if relay.is_stopping:
                return False
        return not relay.is_stopping
    finally:
        reloader.stop()
        autoreload.file_changed.disconnect(on_file_changed)


def watch_code() -> threading.Event:
    """Watch the imported modules from a thread; on a change, stop the worker.

    Return an event that is set when the worker was stopped for a change, so
    that the command then exits with :data:`RESTART_CODE`. The worker is
    also stopped, without a restart, if the restarting parent goes away.
    """
    changed = threading.Event()

    def on_file_changed(sender: Any, file_path: Path, **kwargs: Any) -> bool:
        if not changed.is_set():
            changed.set()
            logger.info(
                "%s changed: restarting the worker once its running tasks finish",
                file_path,
                extra={"action": "code_changed"},
            )
            signal.raise_signal(signal.SIGTERM)
        return True  # handled: the reloader must not exit its own thread

    autoreload.file_changed.connect(on_file_changed, weak=False)
    reloader = autoreload.get_reloader()
    logger.info(
        "watching for code changes with %s (--reload: for development only)",
        type(reloader).__name__,
        extra={"action": "reload_watching"},
    )
    threading.Thread(
        target=reloader.run, args=(threading.main_thread(),), name="reloader", daemon=True
    ).start()
    threading.Thread(
        target=_stop_when_orphaned, args=(os.getppid(),), name="parent-check", daemon=True
    ).start()
    return changed


def _stop_when_orphaned(parent_pid: int) -> None:
    """Stop the worker if the restarting parent was killed (no one would stop it)."""
    ticks = threading.Event()
    while not ticks.wait(PARENT_CHECK_SECONDS):
        if os.getppid() != parent_pid:
            logger.warning(
                "the --reload parent (pid %d) is gone: stopping the worker",
                parent_pid,
                extra={"action": "worker_orphaned"},
            )
            signal.raise_signal(signal.SIGTERM)
            return
