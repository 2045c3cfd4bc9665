"""A real worker runs its first task without having loaded the web side of the project."""

from __future__ import annotations

import pytest
from django.tasks import TaskResultStatus

from tests import tasks
from tests.conftest import WorkerProcesses
from tests.unit.test_worker_imports import WEB_MODULES

pytestmark = pytest.mark.processes


@pytest.mark.parametrize("pool", ["process", "thread"])
def test_the_first_task_runs_before_any_web_module_loads(
    workers: WorkerProcesses, pool: str
) -> None:
    probe = tasks.loaded_modules.enqueue(list(WEB_MODULES))
    process = workers.start(
        "--burst",
        "--pool",
        pool,
        # No keys: a worker with keys loads the cipher before it forks.
        extra_env={
            "DJANGO_SETTINGS_MODULE": "tests.worker_settings",
            "TASKFLOW_REDIS_URL": "",
            "TASKFLOW_ENCRYPTION_KEYS": "",
        },
    )
    assert process.wait(timeout=60) == 0
    probe.refresh()
    assert probe.status == TaskResultStatus.SUCCESSFUL
    assert probe.return_value == []
