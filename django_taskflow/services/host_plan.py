"""What a service host process is told, and its entry point.

Plain values only: the host is a spawned process, which must set Django up
before it imports anything that reads the models.
"""

from __future__ import annotations

import signal
from dataclasses import dataclass
from types import FrameType

from django_taskflow.logs import LogFormat


@dataclass(frozen=True, slots=True, kw_only=True)
class HostPlan:
    database: str
    lease_seconds: float
    poll_interval: float
    max_services: int
    host: str
    parent_pid: int
    # The worker's --log-format and --verbosity, so that the host logs as it does.
    log_format: LogFormat | None = None
    verbosity: int = 1
    # How long a stopping host waits for its handlers: the worker's shutdown grace.
    grace_seconds: float = 10.0


def host_owner(host: str, pid: int) -> str:
    """The owner id of the service host process ``pid`` on ``host``, as its leases name it."""
    return f"{host}:{pid}:services"


def run_host_process(plan: HostPlan) -> None:
    """Entry point of the service host process."""
    import django

    django.setup()
    from django_taskflow import logs
    from django_taskflow.worker.service_host import ServiceHost

    logs.configure(plan.log_format, plan.verbosity)

    host = ServiceHost(plan)

    def on_stop(signum: int, frame: FrameType | None) -> None:
        host.stop.set()

    # Like slot processes: obey the supervisor's relayed signals only.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGUSR1, on_stop)
    signal.signal(signal.SIGUSR2, on_stop)
    host.run()
