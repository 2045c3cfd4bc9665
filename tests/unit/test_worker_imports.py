"""A starting worker loads what claims and runs tasks, not the web side of the project."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from django.core import checks

from django_taskflow.worker.system_checks import WEB_TAGS, WorkerChecks

ROOT = Path(__file__).resolve().parents[2]

# The REST API, the dashboard, the live relay, metrics, the cipher library,
# and what the URL and template checks would pull in. None is needed before
# the first claim. (rest_framework, django_filters and drf_spectacular are
# in the test project's INSTALLED_APPS, so their packages do load.)
WEB_MODULES = (
    "channels",
    "cryptography",
    "django_taskflow.api",
    "django_taskflow.dashboard",
    "django_taskflow.live.consumer",
    "django_taskflow.metrics",
    "django_taskflow.urls",
    "drf_spectacular.openapi",
    "prometheus_client",
    "pygments",
    "rest_framework.serializers",
    "rest_framework.views",
    "yaml",
)

# What ``manage.py taskworker`` does before its slots claim: set up Django,
# run its system checks, and import the slot's code.
PROBE = """
import json, sys
import django
django.setup()
from django_taskflow.management.commands.taskworker import Command
Command().check()
from django_taskflow.worker import slot_process
print(json.dumps([name for name in sys.argv[1:] if name in sys.modules]))
"""


def test_a_starting_worker_loads_no_web_module() -> None:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.worker_settings",
        "PYTHONPATH": str(ROOT),
        "TASKFLOW_REDIS_URL": "",
    }
    done = subprocess.run(
        [sys.executable, "-c", PROBE, *WEB_MODULES],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == []


def test_the_worker_runs_every_check_but_the_webs() -> None:
    worker_checks = set(WorkerChecks().get_checks())
    every_check = set(checks.registry.registry.get_checks())
    skipped = every_check - worker_checks
    assert skipped, "the test project registers URL, template and admin checks"
    assert all(not WEB_TAGS.isdisjoint(check.tags) for check in skipped)
    names = {f"{check.__module__}.{check.__qualname__}" for check in worker_checks}
    # Untagged checks still run (Django's tags alone could not keep them).
    assert "django.contrib.auth.checks.check_middleware" in names
    assert any(name.startswith("django_taskflow.") for name in names)
