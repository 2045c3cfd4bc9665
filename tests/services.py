"""Services used by the tests: module-level, so that workers can import them."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from django_taskflow import ServiceContext, service


def _append(path: str | None, line: str) -> None:
    if path:
        with Path(path).open("a") as file:
            file.write(line + "\n")


@service(tick=0.5)
class Echo:
    """Emits every message back; logs each handler call's pid and wall-clock span."""

    def on_start(self, context: ServiceContext, log: str | None = None) -> None:
        self.log = log
        _append(log, f"start {os.getpid()} {time.time()} {time.time()}")

    def on_message(self, context: ServiceContext, message: Any) -> None:
        began = time.time()
        context.emit({"echo": message, "pid": os.getpid()})
        _append(self.log, f"message {os.getpid()} {began} {time.time()}")

    def on_tick(self, context: ServiceContext) -> None:
        _append(self.log, f"tick {os.getpid()} {time.time()} {time.time()}")

    def on_stop(self, context: ServiceContext) -> None:
        _append(self.log, f"stop {os.getpid()} {time.time()} {time.time()}")


@service(max_restarts=3)
class CrashOnStart:
    def on_start(self, context: ServiceContext) -> None:
        raise RuntimeError("cannot reach the device")


@service(max_deliveries=2)
class RefusesOdd:
    def on_message(self, context: ServiceContext, message: int) -> None:
        if message % 2:
            raise ValueError(f"odd: {message}")
        context.emit({"even": message})


@service(max_restarts=100)
class KeepsCrashing:
    def on_start(self, context: ServiceContext) -> None:
        raise RuntimeError("still no device")

    def on_stop(self, context: ServiceContext) -> None:
        context.emit({"on_stop": "called"})


@service()
class Sleepy:
    """Each message: emits ``began``, sleeps ``seconds`` (``polite``: less if asked to stop)."""

    def on_start(
        self,
        context: ServiceContext,
        seconds: float = 0.0,
        polite: bool = False,
        log: str | None = None,
    ) -> None:
        self.seconds, self.polite, self.log = seconds, polite, log
        _append(log, f"start {os.getpid()} {time.time()} {time.time()}")

    def _sleep(self, context: ServiceContext) -> None:
        deadline = time.monotonic() + self.seconds
        while time.monotonic() < deadline and not (self.polite and context.is_stopping):
            time.sleep(0.05)

    def on_message(self, context: ServiceContext, message: Any) -> None:
        began = time.time()
        context.emit({"began": message, "pid": os.getpid()})
        self._sleep(context)
        context.emit({"done": message, "pid": os.getpid(), "stopping": context.is_stopping})
        _append(self.log, f"message {os.getpid()} {began} {time.time()}")

    def on_stop(self, context: ServiceContext) -> None:
        _append(self.log, f"stop {os.getpid()} {time.time()} {time.time()}")


@service(tick=0.5)
class SlowTicker(Sleepy):
    """Sleepy whose every tick sleeps ``seconds`` too."""

    def on_tick(self, context: ServiceContext) -> None:
        began = time.time()
        self._sleep(context)
        context.emit({"ticked": began, "pid": os.getpid()})


@service(max_restarts=2)
class KillsItsWorker:
    """on_start kills the process that runs it, as a segfault or the OOM killer would."""

    def on_start(self, context: ServiceContext) -> None:
        os.kill(os.getpid(), 9)


@service(max_deliveries=2)
class KilledByPoison:
    """Echoes messages; the message "poison" kills the process that handles it."""

    def on_message(self, context: ServiceContext, message: Any) -> None:
        if message == "poison":
            os.kill(os.getpid(), 9)
        context.emit({"echo": message})


@service(max_restarts=3)
class CrashesSlowly:
    """on_start takes a second to fail, long enough to kill its worker between failures."""

    def on_start(self, context: ServiceContext) -> None:
        time.sleep(1)
        raise RuntimeError(f"no device on {context.owner}")


@service()
class Chatty:
    """Each message is a count: emits that many events as fast as it can."""

    def on_message(self, context: ServiceContext, count: int) -> None:
        for number in range(count):
            context.emit({"n": number})
