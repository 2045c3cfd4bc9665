"""Encrypted tasks as the caller's own process reads them back: ``monitor()`` and result snapshots.

The caller holds the keys, so it gets the payload decrypted, as
``result.return_value`` gives it; the string forms of what it gets show
``[encrypted]`` in its place, so that a log line or an error tracker never
records it.
"""

from __future__ import annotations

import base64
import copy
from typing import Any

import pytest

from django_taskflow.monitor import Failed, Retrying, Running, Succeeded, monitor
from django_taskflow.testing import run_tasks
from tests import encrypted_tasks, typed_tasks
from tests.encrypted_tasks import Patient
from tests.integration.test_encrypted_redaction_worker import SECRET

pytestmark = pytest.mark.django_db(transaction=True)

KEY = {"id": "k1", "key": base64.b64encode(b"1" * 32).decode()}


@pytest.fixture(autouse=True)
def with_key(settings: Any) -> None:
    tasks_setting = copy.deepcopy(settings.TASKS)
    tasks_setting["default"]["OPTIONS"]["ENCRYPTION_KEYS"] = [KEY]
    settings.TASKS = tasks_setting


def assert_hidden(text: str) -> None:
    assert SECRET not in text, text
    assert "sealed" not in text, text


def test_monitor_gives_an_encrypted_tasks_states_decrypted_with_redacted_string_forms() -> None:
    failing = encrypted_tasks.confide.enqueue(SECRET)
    treated = encrypted_tasks.treat.enqueue(Patient(SECRET, "flu"), ward="north")
    run_tasks()

    states = list(monitor(failing.id, timeout=5))
    [*_, done] = monitor(treated.id, timeout=5)

    reported = [s for s in states if isinstance(s, Running) and s.progress == 0.5]
    assert [state.detail for state in reported] == [{"step": SECRET}] * 2
    retrying, failed = (s for s in states if isinstance(s, Retrying | Failed))
    assert isinstance(failed, Failed)
    for state in (retrying, failed):
        assert state.error is not None and state.error.message == f"failed on {SECRET}"
    assert done == Succeeded(output=f"treated {SECRET} (flu) in north")
    for state in (*states, done):
        assert_hidden(repr(state))
        assert_hidden(str(state))
    assert repr(reported[0]) == "Running(attempt=1, progress=0.5, detail=[encrypted])"
    assert repr(done) == "Succeeded(output=[encrypted])"
    assert repr(failed) == (
        "Failed(error=AttemptError(attempt=2, error_class='builtins.ValueError', "
        "message='[encrypted]', value=None))"
    )


def test_monitor_gives_a_compressed_tasks_output_decoded() -> None:
    result = typed_tasks.echo_compressed.enqueue("readable " * 300)
    run_tasks()

    [*_, done] = monitor(result.id, timeout=5)

    assert done == Succeeded(output="readable " * 300)
    assert repr(done).startswith("Succeeded(output='readable readable")


def test_a_result_from_the_row_gives_an_encrypted_tasks_traceback_decrypted() -> None:
    result = encrypted_tasks.leaky.enqueue(SECRET)
    run_tasks()

    result.refresh()

    [error] = result.errors
    assert error.exception_class_path == "builtins.ValueError"
    assert error.traceback.startswith("Traceback (most recent call last):")
    assert f"ValueError: failed on {SECRET}" in error.traceback
    for text in (repr(error), str(error), repr(result.errors), repr(result)):
        assert_hidden(text)
    assert repr(error) == (
        "TaskError(exception_class_path='builtins.ValueError', traceback=[encrypted])"
    )
    again = encrypted_tasks.leaky.get_result(result.id)
    assert again.errors[0].traceback == error.traceback


def test_the_dashboard_and_taskflow_show_give_an_encrypted_task_without_its_payload(
    admin_client: Any,
) -> None:
    import io
    import json

    from django.core.management import call_command
    from django.urls import reverse

    failing = encrypted_tasks.confide.enqueue(SECRET)
    run_tasks()

    pages = [
        admin_client.get(reverse("django_taskflow:dashboard")),
        admin_client.get(reverse("django_taskflow:dashboard-rows"), {"q": failing.id}),
    ]
    out = io.StringIO()
    call_command("taskflow", "show", failing.id, "-v", "2", stdout=out)
    as_json = io.StringIO()
    call_command("taskflow", "show", failing.id, "--json", stdout=as_json)

    for page in pages:
        assert page.status_code == 200
        assert_hidden(page.content.decode())
    assert str(failing.id) in pages[1].content.decode()
    assert_hidden(out.getvalue())
    assert "builtins.ValueError: [encrypted]" in out.getvalue()
    shown = json.loads(as_json.getvalue())
    assert {e["data"].get("message") for e in shown["events"] if e["kind"] == "progress"} == {
        "[encrypted]"
    }
    assert [a["traceback"] for a in shown["attempts"]] == ["[encrypted]"] * 2
