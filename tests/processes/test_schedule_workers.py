"""Schedulers in real workers: each planned run fires once across workers, kills and edits."""

from __future__ import annotations

import itertools
import os
import signal
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse

from django_taskflow import models, schedule
from tests import tasks
from tests.conftest import WorkerProcesses, wait_for

pytestmark = pytest.mark.processes

RUN_SECONDS = 30


def fired_runs() -> list[models.ScheduleRun]:
    return list(models.ScheduleRun.objects.select_related("task").order_by("planned_at"))


def test_three_workers_fire_each_planned_run_once_even_when_one_is_killed(
    workers: WorkerProcesses, tmp_path: Path
) -> None:
    log = tmp_path / "runs.log"
    # Each run takes half a second, so that the killed worker dies mid-run.
    schedule(
        tasks.record_run,
        every=timedelta(seconds=1),
        args=(str(log), 0.5),
        name="every-second",
        overlap="allow",
    )
    started = [workers.start("--concurrency", "2", lease_seconds=5) for _ in range(3)]
    wait_for(lambda: len(fired_runs()) >= 3, timeout=60)
    began = time.monotonic()
    wait_for(lambda: time.monotonic() - began > RUN_SECONDS / 3, timeout=RUN_SECONDS)
    wait_for(lambda: log.exists() and log.read_text(), timeout=30)
    os.killpg(started[0].pid, signal.SIGKILL)  # supervisor, scheduler and slots at once
    started[0].wait(timeout=10)
    wait_for(lambda: time.monotonic() - began > RUN_SECONDS, timeout=RUN_SECONDS * 2)
    for process in started[1:]:
        process.send_signal(signal.SIGTERM)
    for process in started[1:]:
        assert process.wait(timeout=60) == 0

    runs = fired_runs()
    planned = [run.planned_at for run in runs]
    assert len(planned) >= RUN_SECONDS - 5
    # Every planned second from the first to the last, each exactly once.
    steps = {later - earlier for earlier, later in itertools.pairwise(planned)}
    assert steps == {timedelta(seconds=1)}, Counter(
        later - earlier for earlier, later in itertools.pairwise(planned)
    )
    assert all(run.state == "fired" and run.task_id is not None for run in runs)
    assert len({run.task_id for run in runs}) == len(runs)
    assert models.Task.objects.count() == len(runs)
    # And each fired task ran once, except those the killed worker held (lost mid-run).
    executions = Counter(line.split()[0] for line in log.read_text().splitlines())
    assert set(executions) <= {str(run.task_id) for run in runs}
    killed_mid_run = models.Task.objects.filter(lost_attempts__gt=0).count()
    assert sum(count > 1 for count in executions.values()) <= killed_mid_run
    # No leader: the schedulers of several workers fired runs.
    firing = [p for p in started if "schedule every-second fired" in workers.log(p)]
    assert len(firing) >= 2


def test_an_admin_edit_applies_to_running_workers_without_a_restart(
    workers: WorkerProcesses, tmp_path: Path
) -> None:
    name = schedule(tasks.noop, cron="0 0 1 1 *", name="yearly")
    row = models.Schedule.objects.get(name=name)
    workers.start()
    workers.start("--no-scheduler")
    User.objects.create_superuser("root", password=None)
    client = Client()
    client.force_login(User.objects.get(username="root"))
    response = client.post(
        reverse("admin:django_taskflow_schedule_change", args=[row.pk]),
        {
            "name": "yearly",
            "task_path": "tests.tasks.noop",
            "args": "[]",
            "kwargs": "{}",
            "cron": "",
            "interval_seconds": "1",
            "timezone": "UTC",
            "catch_up": "skip",
            "overlap": "allow",
            "enabled": "on",
        },
    )
    assert response.status_code == 302
    wait_for(lambda: models.Task.objects.filter(status="succeeded").count() >= 3, timeout=30)


def test_the_scheduler_survives_losing_its_database_connection(workers: WorkerProcesses) -> None:
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("terminating server connections needs PostgreSQL")
    schedule(tasks.noop, every=timedelta(seconds=1), name="every-second", overlap="allow")
    process = workers.start()
    wait_for(lambda: len(fired_runs()) >= 2, timeout=60)
    for _ in range(3):  # the supervisor's connection among them, at any moment of its tick
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        before = len(fired_runs())
        wait_for(lambda: len(fired_runs()) >= before + 2, timeout=30)  # noqa: B023
    assert process.poll() is None
    # The supervisor's one connection serves its scheduler ticks and its look
    # for services; whichever uses it first after a termination reports the loss.
    log = workers.log(process)
    assert "scheduler tick failed" in log or "could not look for services to host" in log
    planned = [run.planned_at for run in fired_runs()]
    assert len(set(planned)) == len(planned)
