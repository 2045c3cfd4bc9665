"""Key rotation beside a real worker that keeps claiming and finishing encrypted tasks."""

from __future__ import annotations

import json
from typing import Any

import pytest

from django_taskflow import key_rotation, models
from django_taskflow.backend import TaskflowBackend
from django_taskflow.states import Status
from tests import encrypted_tasks
from tests.conftest import WorkerProcesses, wait_for
from tests.integration.test_encryption import KEY_1, KEY_2, use_keys

pytestmark = pytest.mark.processes

TASKS = 150


def test_rotation_re_encrypts_every_row_while_a_worker_runs_then_the_old_key_can_go(
    workers: WorkerProcesses, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_keys(settings, KEY_1)
    results = encrypted_tasks.slow_secret.enqueue_many(
        [(f"secret {n}", 0.02) for n in range(TASKS)]
    )
    # The worker holds both keys: it reads k1 rows and writes k2 ones.
    monkeypatch.setenv("TASKFLOW_ENCRYPTION_KEYS", json.dumps([KEY_2, KEY_1]))
    worker = workers.start("--concurrency", "2")
    wait_for(lambda: models.Task.objects.filter(status=Status.SUCCEEDED).exists(), timeout=60)
    use_keys(settings, KEY_2, KEY_1)
    backend = results[0].task.get_backend()
    assert isinstance(backend, TaskflowBackend)

    report = key_rotation.rotate_keys(backend.config, batch_size=20, wait_seconds=60)

    assert report.is_complete, report
    assert worker.poll() is None  # it ran beside the rotation
    wait_for(lambda: models.Task.objects.filter(status=Status.SUCCEEDED).count() == TASKS, 90)
    encodings = set(models.Task.objects.values_list("encoding", flat=True))
    assert encodings == {'{"key":"k2"}'}, encodings
    use_keys(settings, KEY_2)  # k1 removed: everything still reads
    for n, result in enumerate(results):
        result.refresh()
        assert result.return_value == f"done with secret {n}"
