"""A real worker stores errors and results it cannot store as they are, and goes on."""

from __future__ import annotations

import pytest

from django_taskflow import models
from django_taskflow.states import Status
from tests import tasks
from tests.conftest import WorkerProcesses

pytestmark = pytest.mark.processes


def test_a_worker_retries_errors_with_nul_or_surrogates_and_refuses_a_too_deep_result(
    workers: WorkerProcesses,
) -> None:
    nul = tasks.raise_nul_message.enqueue()
    surrogate = tasks.raise_surrogate_message.enqueue()
    deep = tasks.return_deep_list.enqueue(2_000)
    after = tasks.add.enqueue(2, 3)
    process = workers.start("--burst", "--concurrency", "2")

    assert process.wait(timeout=60) == 0, workers.log(process)

    outcomes = {
        name: list(
            models.Attempt.objects.filter(task_id=result.id)
            .order_by("number")
            .values_list("number", "error_class")
        )
        for name, result in {"nul": nul, "surrogate": surrogate, "deep": deep}.items()
    }
    assert outcomes == {
        "nul": [(1, "builtins.ValueError"), (2, "builtins.ValueError")],
        "surrogate": [(1, "builtins.FileNotFoundError"), (2, "builtins.FileNotFoundError")],
        "deep": [(1, "django_taskflow.exceptions.UnserializablePayload")],
    }
    assert after.wait(timeout=10).return_value == 5
    assert {models.Task.objects.get(pk=r.id).status for r in (nul, surrogate, deep)} == {
        Status.FAILED
    }
