"""What a real worker writes to its log: one line per finished attempt, text or JSON."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from django_taskflow import attempt_log
from tests import tasks
from tests.conftest import WorkerProcesses

pytestmark = pytest.mark.processes


def test_text_log_has_one_line_per_attempt_and_progress_at_debug(
    workers: WorkerProcesses, tmp_path: Path
) -> None:
    slow = tasks.outlives_soft_limit.enqueue(str(tmp_path / "soft"), 0.6)
    added = tasks.add.enqueue(2, 3)
    failing = tasks.fail_always.enqueue("disk on fire")  # 3 attempts, no delay
    steps = tasks.progress_steps.enqueue(2, 0.01)
    process = workers.start("--burst", "--log-format", "text", "--verbosity", "2")
    assert process.wait(timeout=60) == 0
    log = workers.log(process)

    clock = r"\d\d:\d\d:\d\d"
    assert re.search(
        rf"^{clock} INFO  succeeded tests\.tasks\.add\[{attempt_log.short_id(added.id)}\] "
        r"in [\d.]+ (ms|s) → 5$",
        log,
        re.MULTILINE,
    )
    label = re.escape(f"tests.tasks.fail_always[{attempt_log.short_id(failing.id)}]")
    retries = re.findall(
        rf"^{clock} INFO  retrying {label} in [\d.]+ (?:ms|s): RuntimeError: disk on fire; "
        r"next attempt (?:now|at .*)$",
        log,
        re.MULTILINE,
    )
    assert len(retries) == 2
    assert re.search(
        rf"^{clock} INFO  failed {label} in [\d.]+ (ms|s): RuntimeError: disk on fire$",
        log,
        re.MULTILINE,
    )
    progress = re.escape(f"progress tests.tasks.progress_steps[{attempt_log.short_id(steps.id)}]")
    assert re.search(rf"^{clock} DEBUG {progress} 50% {{\"step\": 1}}$", log, re.MULTILINE)
    assert "log:         text on stderr, level DEBUG; progress reports shown (DEBUG)" in log
    # A time-limit line names the task and its id, the short way.
    slow_label = re.escape(f"tests.tasks.outlives_soft_limit[{attempt_log.short_id(slow.id)}]")
    assert re.search(
        rf"^{clock} WARNING task {slow_label} passed its soft time limit \(0.3 s\)$",
        log,
        re.MULTILINE,
    )


def test_json_log_has_one_object_per_line_with_the_extra_fields(
    workers: WorkerProcesses,
) -> None:
    added = tasks.add.enqueue(2, 3)
    steps = tasks.progress_steps.enqueue(1, 0.01)
    process = workers.start("--burst", "--log-format", "json")
    assert process.wait(timeout=60) == 0
    log = workers.log(process)
    assert (
        "log:         json on stderr, level INFO; "
        "progress reports log at DEBUG (--verbosity 2 shows them)"
    ) in log
    lines = [json.loads(line) for line in log.splitlines() if line.startswith("{")]
    assert lines, "no JSON lines in the worker's output"
    (succeeded,) = [line for line in lines if line.get("task_id") == added.id]
    assert succeeded["message"] == (
        f"succeeded tests.tasks.add[{attempt_log.short_id(added.id)}] "
        f"in {attempt_log.format_duration(succeeded['duration'])} → 5"
    )
    assert succeeded["level"] == "INFO"
    assert succeeded["logger"] == "django_taskflow.transitions"
    assert succeeded["action"] == "task_succeeded"
    assert succeeded["task_name"] == "tests.tasks.add"
    assert succeeded["worker_id"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00", succeeded["time"])
    # Progress is at DEBUG: not shown at the default verbosity.
    assert not [line for line in lines if line.get("action") == "task_progress"]
    assert [line["action"] for line in lines if line.get("task_id") == steps.id] == [
        "task_succeeded"
    ]
