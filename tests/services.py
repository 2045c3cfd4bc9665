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
