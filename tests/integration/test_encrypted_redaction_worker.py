"""Encrypted tasks in what the worker says: log lines, signals, live frames, the dashboard.

Each shows ``[encrypted]`` where the task's payload would be, never its
plaintext nor its ciphertext. A receiver that needs the payload asks for
it (``event.reveal()``); the revealed event's string forms stay redacted.
"""

from __future__ import annotations

import base64
import copy
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async

from django_taskflow import events, models, signals
from django_taskflow.dashboard import reading
from django_taskflow.encoding import arguments as stored_arguments
from django_taskflow.encoding import fields, keys
from django_taskflow.live import frames
from django_taskflow.testing import run_tasks
from tests import encrypted_tasks
from tests.encrypted_tasks import Patient
from tests.integration import test_live_consumer as live

pytestmark = pytest.mark.django_db(transaction=True)

KEY = {"id": "k1", "key": base64.b64encode(b"1" * 32).decode()}
SECRET = "diagnosis-4711"  # noqa: S105  # what must never show


@pytest.fixture(autouse=True)
def with_key(settings: Any) -> None:
    tasks_setting = copy.deepcopy(settings.TASKS)
    tasks_setting["default"]["OPTIONS"]["ENCRYPTION_KEYS"] = [KEY]
    settings.TASKS = tasks_setting


@pytest.fixture
def heard() -> Iterator[list[events.TaskEvent]]:
    """Every TaskEvent our signals send while the test runs."""
    received: list[events.TaskEvent] = []

    def receiver(sender: Any, event: events.TaskEvent, **kwargs: Any) -> None:
        received.append(event)

    kinds = (signals.task_progress, signals.task_retrying, signals.task_failed)
    for signal in (*kinds, signals.task_succeeded):
        signal.connect(receiver, weak=False, dispatch_uid="redaction-test")
    yield received
    for signal in (*kinds, signals.task_succeeded):
        signal.disconnect(dispatch_uid="redaction-test")


def assert_redacted(text: str) -> None:
    assert "[encrypted]" in text, text
    assert SECRET not in text, text
    assert fields.SEALED_TEXT_PREFIX not in text, text
    assert "sealed" not in text, text


def test_the_worker_logs_encrypted_errors_results_and_progress_as_redacted(
    caplog: pytest.LogCaptureFixture,
) -> None:
    failing = encrypted_tasks.confide.enqueue(SECRET)
    treated = encrypted_tasks.treat.enqueue(Patient(SECRET, SECRET), ward="north")

    with caplog.at_level(logging.DEBUG, logger="django_taskflow"):
        run_tasks()

    lines = {record.getMessage() for record in caplog.records}
    for line in lines:
        assert SECRET not in line and fields.SEALED_TEXT_PREFIX not in line, line
    short = failing.id[-6:]
    assert {
        line.split(" in ")[0] + " " + line.partition(": ")[2].partition(";")[0]
        for line in lines
        if short in line and line.startswith(("retrying", "failed"))
    } == {
        f"retrying tests.encrypted_tasks.confide[…{short}] ValueError: [encrypted]",
        f"failed tests.encrypted_tasks.confide[…{short}] ValueError: [encrypted]",
    }
    assert f"progress tests.encrypted_tasks.confide[…{short}] 50% [encrypted]" in lines
    succeeded = [line for line in lines if line.startswith("succeeded") and treated.id[-6:] in line]
    assert len(succeeded) == 1 and succeeded[0].endswith("→ [encrypted]")


def test_an_encrypted_task_whose_arguments_do_not_fit_is_logged_without_them(
    caplog: pytest.LogCaptureFixture,
) -> None:
    result = encrypted_tasks.treat.enqueue(Patient(SECRET, SECRET), ward="north")
    # What older code could have stored: a Patient without its diagnosis.
    writer = stored_arguments.writer_for(encrypted_tasks.treat, 2**20, keys.parse([KEY]))
    args, _ = writer.encode(
        [{"name": SECRET}], {"ward": "north"}, models.Task.objects.get(pk=result.id).pk
    )
    models.Task.objects.filter(pk=result.id).update(args=json.loads(args), kwargs={})

    with caplog.at_level(logging.INFO, logger="django_taskflow"):
        run_tasks()

    assert models.Task.objects.get(pk=result.id).status == "failed"
    unreadable = [r for r in caplog.records if getattr(r, "action", "") == "task_unreadable"]
    assert [r.getMessage() for r in unreadable] == [
        f"task {result.id} cannot run: UnfitValue: [encrypted]"
    ]
    for record in caplog.records:
        assert SECRET not in record.getMessage()


def test_signals_string_forms_are_redacted_and_reveal_gives_the_payload(
    heard: list[events.TaskEvent],
) -> None:
    failing = encrypted_tasks.confide.enqueue(SECRET)
    treated = encrypted_tasks.treat.enqueue(Patient(SECRET, "flu"), ward="north")

    run_tasks()

    kinds = {(event.task_id, event.kind.value) for event in heard}
    assert (failing.id, "progress") in kinds and (failing.id, "retrying") in kinds
    assert (failing.id, "failed") in kinds and (treated.id, "succeeded") in kinds
    for event in heard:
        for text in (str(event), repr(event), str(event.reveal()), repr(event.reveal())):
            assert_redacted(text)
        if event.error is not None:
            assert str(event.error) == "builtins.ValueError: [encrypted]"
            assert str(event.reveal().error) == "builtins.ValueError: [encrypted]"
            assert SECRET not in repr(event.errors) and SECRET not in repr(event.reveal().errors)
            assert event.reveal().error.message == f"failed on {SECRET}"
    progress = next(e for e in heard if e.kind == "progress").reveal()
    assert progress.data["message"] == f"reading {SECRET}"
    assert progress.data["detail"] == {"step": SECRET}
    succeeded = next(e for e in heard if e.kind == "succeeded")
    assert succeeded.reveal().result == f"treated {SECRET} (flu) in north"


def test_live_frames_and_the_dashboard_show_an_encrypted_progress_message_redacted(
    heard: list[events.TaskEvent],
) -> None:
    failing = encrypted_tasks.confide.enqueue(SECRET)

    run_tasks()

    sent = [frames.frame(event) for event in heard if event.task_id == failing.id]
    assert [(f["event"], f["message"]) for f in sent] == [
        ("progress", "[encrypted]"),
        ("retrying", None),
        ("progress", "[encrypted]"),
        ("failed", None),
    ]
    for frame in sent:
        assert SECRET not in repr(frame) and "sealed" not in repr(frame)
    models.Task.objects.filter(pk=failing.id).update(status="running")  # as while it ran
    [current] = frames.current_frames([failing.id])
    assert current["message"] == "[encrypted]"
    [row] = reading.task_rows("default", ids=[failing.id])
    assert row.message == "[encrypted]"


def test_a_websocket_subscriber_gets_an_encrypted_progress_message_redacted(
    django_user_model: Any,
) -> None:
    staff = django_user_model.objects.create_user("staff", password="x", is_staff=True)
    failing = encrypted_tasks.confide.enqueue(SECRET)

    async def scenario() -> list[dict[str, Any]]:
        communicator = await live.connected(staff)
        try:
            await live.subscribe(communicator, task=failing.id)
            await communicator.receive_json_from(live.FRAME_TIMEOUT)  # its current state
            await database_sync_to_async(run_tasks)()
            return await live.frames_until(communicator, lambda f: f["status"] == "failed")
        finally:
            await communicator.disconnect()

    received = async_to_sync(scenario)()

    assert [(f["event"], f["message"]) for f in received] == [
        ("started", None),
        ("progress", "[encrypted]"),
        ("retrying", None),
        ("started", None),
        ("progress", "[encrypted]"),
        ("failed", None),
    ]
    assert SECRET not in repr(received) and "sealed" not in repr(received)
