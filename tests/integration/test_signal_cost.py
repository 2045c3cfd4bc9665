"""Django's task_started / task_finished: sent whenever anything would hear them."""

from __future__ import annotations

import logging

import pytest
from django.tasks.signals import task_finished, task_started

from django_taskflow import signals
from django_taskflow.testing import run_tasks
from tests import tasks

pytestmark = pytest.mark.django_db


def test_django_logs_each_task_when_its_logger_is_at_info(
    caplog: pytest.LogCaptureFixture,
) -> None:
    result = tasks.add.enqueue(1, 2)
    failed = tasks.fail_always.using(max_attempts=1).enqueue()
    with caplog.at_level(logging.INFO, logger="django.tasks"):
        run_tasks()
    lines = [r.getMessage() for r in caplog.records if r.name == "django.tasks"]
    assert f"Task id={result.id} path={tasks.add.module_path} state=RUNNING" in lines
    assert f"Task id={result.id} path={tasks.add.module_path} state=SUCCESSFUL" in lines
    [failure] = [
        r
        for r in caplog.records
        if r.name == "django.tasks"
        and r.getMessage()
        == f"Task id={failed.id} path={tasks.fail_always.module_path} state=FAILED"
    ]
    assert failure.levelno == logging.ERROR


def test_only_djangos_logging_receiver_with_its_logger_quiet_is_not_worth_a_snapshot() -> None:
    logger = logging.getLogger("django.tasks")
    previous = logger.level
    logger.setLevel(logging.WARNING)
    try:
        assert not signals.is_heard(task_started)
        assert not signals.is_heard(task_finished)
        assert signals.is_heard(task_finished, failed=True)  # Django logs failures at ERROR

        def receiver(**kwargs: object) -> None:
            pass

        task_started.connect(receiver)
        try:
            assert signals.is_heard(task_started)
        finally:
            task_started.disconnect(receiver)
    finally:
        logger.setLevel(previous)


def test_a_receiver_gets_task_started_and_task_finished_with_django_quiet() -> None:
    logger = logging.getLogger("django.tasks")
    previous = logger.level
    logger.setLevel(logging.WARNING)
    seen: list[tuple[str, object]] = []

    def started(sender: object, task_result: object, **kwargs: object) -> None:
        seen.append(("started", task_result.status))  # type: ignore[attr-defined]

    def finished(sender: object, task_result: object, **kwargs: object) -> None:
        seen.append(("finished", task_result.return_value))  # type: ignore[attr-defined]

    task_started.connect(started)
    task_finished.connect(finished)
    try:
        tasks.add.enqueue(40, 2)
        run_tasks()
    finally:
        task_started.disconnect(started)
        task_finished.disconnect(finished)
        logger.setLevel(previous)
    assert [kind for kind, _ in seen] == ["started", "finished"]
    assert seen[1][1] == 42
