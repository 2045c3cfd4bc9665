"""Services under attack in real workers: kills, slow and stuck handlers, races, budgets."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from django_taskflow import models, services
from django_taskflow.exceptions import ServiceNotRunning
from tests import services as test_services
from tests.conftest import WorkerProcesses, wait_for
from tests.processes.test_services import emitted, event_kinds, holds_for

pytestmark = pytest.mark.processes

LEASE_SECONDS = 2.0


def handler_calls(log: Path) -> list[tuple[str, int]]:
    """Each handler call logged by the test service: (handler, pid)."""
    if not log.exists():
        return []
    return [(line.split()[0], int(line.split()[1])) for line in log.read_text().splitlines()]


def host_pid(name: str) -> int:
    owner = wait_for(lambda: services.status(name).owner, timeout=60)
    return int(owner.split(":")[-2])


def first_event(name: str, kind: str) -> Any:
    return next(e for e in services.events(name, after=0, follow=False) if e.kind == kind)


def failed(name: str, timeout: float = 60) -> Any:
    """The service's status once it is marked failed."""
    return wait_for(lambda: (s := services.status(name)).state == "failed" and s, timeout=timeout)


def stop_cleanly(*workers: Any) -> None:
    for worker in workers:
        if worker.poll() is None:
            worker.send_signal(signal.SIGTERM)
    for worker in workers:
        assert worker.wait(timeout=60) == 0


# -- kills -------------------------------------------------------------------------


def test_sigkill_of_the_supervisor_alone_hands_the_service_over_with_an_event(
    workers: WorkerProcesses, tmp_path: Path
) -> None:
    log = tmp_path / "handlers.log"
    first = workers.start("--concurrency", "1", lease_seconds=LEASE_SECONDS)
    services.start("echo", test_services.Echo, log=str(log))
    first_owner = wait_for(lambda: services.status("echo").owner, timeout=60)
    second = workers.start("--concurrency", "1", lease_seconds=LEASE_SECONDS)
    for number in range(20):
        services.send("echo", number)
    wait_for(lambda: len(emitted("echo")) >= 5, timeout=60)

    os.kill(first.pid, signal.SIGKILL)  # the supervisor only: its host lives on, orphaned
    killed_at = time.time()
    first.wait(timeout=10)
    for number in range(20, 40):
        services.send("echo", number)

    wait_for(lambda: "taken_over" in event_kinds("echo"), timeout=60)
    taken_over = first_event("echo", "taken_over")
    assert taken_over.data["previous_owner"] == first_owner
    assert taken_over.created_at.timestamp() - killed_at < 2 * LEASE_SECONDS
    wait_for(lambda: {e["echo"] for e in emitted("echo")} >= set(range(40)), timeout=60)
    starts = [pid for handler, pid in handler_calls(log) if handler == "start"]
    assert len(set(starts)) == 2  # on_start again, in the new owner's host
    assert services.status("echo").config == {"log": str(log)}
    stop_cleanly(second)


def test_a_dead_service_host_is_taken_over_at_once_not_after_its_lease(
    workers: WorkerProcesses,
) -> None:
    # A long lease: only the supervisor noticing its host's death can explain a quick takeover.
    worker = workers.start("--concurrency", "1", lease_seconds=120)
    services.start("echo", test_services.Echo)
    services.send("echo", "first")
    wait_for(lambda: [e["echo"] for e in emitted("echo")] == ["first"], timeout=60)
    first_owner = services.status("echo").owner
    os.kill(host_pid("echo"), signal.SIGKILL)

    services.send("echo", "second")
    wait_for(lambda: "taken_over" in event_kinds("echo"), timeout=40)
    assert first_event("echo", "taken_over").data["previous_owner"] == first_owner
    wait_for(lambda: [e["echo"] for e in emitted("echo")][-1:] == ["second"], timeout=30)
    stop_cleanly(worker)


# -- slow and stuck handlers ----------------------------------------------------------


@pytest.mark.parametrize("service", [test_services.Sleepy, test_services.SlowTicker])
def test_a_handler_slower_than_the_lease_keeps_its_owner(
    workers: WorkerProcesses, tmp_path: Path, service: type
) -> None:
    log = tmp_path / "handlers.log"
    first = workers.start("--concurrency", "1", lease_seconds=LEASE_SECONDS)
    services.start("slow", service, seconds=3 * LEASE_SECONDS, log=str(log))
    owner = wait_for(lambda: services.status("slow").owner, timeout=60)
    second = workers.start("--concurrency", "1", lease_seconds=LEASE_SECONDS)
    services.send("slow", "long")

    wait_for(lambda: any(e.get("done") == "long" for e in emitted("slow")), timeout=60)
    if service is test_services.SlowTicker:
        wait_for(lambda: sum("ticked" in e for e in emitted("slow")) >= 2, timeout=60)
    assert "taken_over" not in event_kinds("slow")
    assert services.status("slow").owner == owner
    assert [handler for handler, _ in handler_calls(log)].count("start") == 1
    assert [e["began"] for e in emitted("slow") if "began" in e] == ["long"]  # handled once
    stop_cleanly(first, second)


def test_stop_asks_a_long_handler_to_return_and_on_stop_runs_once(
    workers: WorkerProcesses, tmp_path: Path
) -> None:
    log = tmp_path / "handlers.log"
    worker = workers.start("--concurrency", "1")
    services.start("slow", test_services.Sleepy, seconds=600, polite=True, log=str(log))
    services.send("slow", "long")
    wait_for(lambda: any(e.get("began") == "long" for e in emitted("slow")), timeout=60)

    services.stop("slow")

    wait_for(lambda: services.status("slow").state == "stopped", timeout=30)
    assert next(e for e in emitted("slow") if "done" in e)["stopping"] is True
    assert [handler for handler, _ in handler_calls(log)] == ["start", "message", "stop"]
    stop_cleanly(worker)


def test_sigterm_with_a_handler_that_never_returns_stops_within_the_grace_and_hands_over(
    workers: WorkerProcesses, tmp_path: Path
) -> None:
    log = tmp_path / "handlers.log"
    stuck = workers.start("--concurrency", "1", lease_seconds=120, grace_seconds=2)
    services.start("stuck", test_services.Sleepy, seconds=600, log=str(log))
    first_owner = wait_for(lambda: services.status("stuck").owner, timeout=60)
    services.send("stuck", "forever")
    wait_for(lambda: any(e.get("began") == "forever" for e in emitted("stuck")), timeout=60)
    other = workers.start("--concurrency", "1", lease_seconds=120, grace_seconds=2)

    stuck.send_signal(signal.SIGTERM)
    assert stuck.wait(timeout=30) == 0  # the grace (2 s), then forced: not the 120 s lease
    # The lease of the handler that never returned is given up once its process is gone.
    wait_for(lambda: "taken_over" in event_kinds("stuck"), timeout=40)
    assert first_event("stuck", "taken_over").data["previous_owner"] == first_owner
    wait_for(lambda: [e.get("began") for e in emitted("stuck")].count("forever") == 2, timeout=30)
    assert "stop" not in [handler for handler, _ in handler_calls(log)]  # it moved, not stopped
    os.killpg(other.pid, signal.SIGKILL)


def test_thousands_of_events_from_two_services_reach_a_follower_of_all_once_in_order(
    workers: WorkerProcesses,
) -> None:
    from django_taskflow.services.log import ServiceEventStream

    worker = workers.start("--concurrency", "1")
    names = ("chatty-a", "chatty-b")
    for name in names:
        services.start(name, test_services.Chatty)
    wait_for(lambda: all(services.status(name).owner for name in names), timeout=60)
    heard: dict[str, list[int]] = {name: [] for name in names}
    count = 1_500
    latest = models.ServiceEvent.objects.order_by("-id").values_list("id", flat=True).first()

    def follow_every_service() -> None:
        from django.db import connection

        stream = ServiceEventStream(service=None, kinds=["emitted"], after=latest or 0, timeout=120)
        try:
            for event in stream:
                heard[event.service].append(event.data["n"])
                if sum(map(len, heard.values())) >= 2 * count:
                    return
        finally:
            connection.close()

    follower = threading.Thread(target=follow_every_service)
    follower.start()
    for name in names:  # both services emit at once, in two threads of the host
        services.send(name, count)
    follower.join(timeout=180)

    assert heard == {name: list(range(count)) for name in names}
    stop_cleanly(worker)


# -- races -----------------------------------------------------------------------------


def test_a_message_sent_as_the_service_is_stopped_is_handled_or_refused(
    workers: WorkerProcesses, tmp_path: Path
) -> None:
    log = tmp_path / "handlers.log"
    worker = workers.start("--concurrency", "1")
    services.start("echo", test_services.Echo, log=str(log))
    services.send("echo", -1)
    wait_for(lambda: emitted("echo"), timeout=60)
    accepted: list[int] = []
    refused = threading.Event()

    def send_until_refused() -> None:
        from django.db import connection

        number = 0
        try:
            while True:
                services.send("echo", number)
                accepted.append(number)
                number += 1
        except ServiceNotRunning:
            refused.set()
        finally:
            connection.close()

    sender = threading.Thread(target=send_until_refused)
    sender.start()
    wait_for(lambda: len(accepted) >= 50, timeout=30)
    services.stop("echo")
    sender.join(timeout=30)

    assert refused.is_set()
    wait_for(lambda: services.status("echo").state == "stopped", timeout=60)
    # Every message send() accepted reached on_message before on_stop; none is left behind.
    assert {e["echo"] for e in emitted("echo")} >= set(accepted)
    assert not models.ServiceMessage.objects.filter(service_id="echo").exists()
    assert [handler for handler, _ in handler_calls(log)][-1] == "stop"
    stop_cleanly(worker)


def test_max_services_holds_across_hosts_and_a_worker_without_services_takes_none(
    workers: WorkerProcesses,
) -> None:
    hosts = [workers.start("--concurrency", "1", "--max-services", "1") for _ in range(2)]
    tasks_only = workers.start("--concurrency", "1", "--no-services")
    for name in ("a", "b", "c"):
        services.start(name, test_services.Echo)

    def owners() -> Counter[str]:
        return Counter(row.owner for row in models.Service.objects.all() if row.owner)

    wait_for(lambda: len(owners()) == 2, timeout=60)
    assert holds_for(lambda: sorted(owners().values()) == [1, 1], seconds=3)
    pids = {int(owner.split(":")[-2]) for owner in owners()}
    assert all(os.getpgid(pid) in {host.pid for host in hosts} for pid in pids)
    stop_cleanly(*hosts, tasks_only)


# -- budgets across takeovers ------------------------------------------------------------


def test_the_restart_budget_counts_across_a_takeover(workers: WorkerProcesses) -> None:
    first = workers.start("--concurrency", "1", lease_seconds=LEASE_SECONDS)
    services.start("crashing", test_services.CrashesSlowly)
    wait_for(lambda: services.status("crashing").restarts >= 1, timeout=60)
    os.killpg(first.pid, signal.SIGKILL)
    first.wait(timeout=10)
    second = workers.start("--concurrency", "1", lease_seconds=LEASE_SECONDS)

    status = failed("crashing")
    assert status.restarts == 3  # CrashesSlowly's max_restarts, counted across both owners
    assert len({error["message"] for error in status.errors}) >= 2  # both owners failed
    stop_cleanly(second)


def test_a_service_that_kills_its_worker_at_start_is_marked_failed(
    workers: WorkerProcesses,
) -> None:
    worker = workers.start("--concurrency", "1", lease_seconds=LEASE_SECONDS)
    services.start("deadly", test_services.KillsItsWorker)

    status = failed("deadly", timeout=120)
    assert status.restarts == 2  # KillsItsWorker's max_restarts
    assert "stopped renewing" in status.errors[-1]["message"]
    assert worker.poll() is None  # the worker lives on; only its service host died
    stop_cleanly(worker)


def test_a_message_that_kills_its_worker_is_set_aside_and_the_service_goes_on(
    workers: WorkerProcesses,
) -> None:
    worker = workers.start("--concurrency", "1", lease_seconds=LEASE_SECONDS)
    services.start("poisoned", test_services.KilledByPoison)
    for message in ("a", "poison", "b"):
        services.send("poisoned", message)

    wait_for(lambda: [e["echo"] for e in emitted("poisoned")] == ["a", "b"], timeout=120)
    status = services.status("poisoned")
    assert (status.state, status.dead_messages, status.backlog) == ("running", 1, 0)
    dead = models.ServiceMessage.objects.get(service_id="poisoned")
    assert (dead.body, dead.deliveries) == ("poison", 2)
    stop_cleanly(worker)
