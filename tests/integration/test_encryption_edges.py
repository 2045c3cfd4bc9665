"""Encryption at rest against awkward input: odd text, payloads at the size limit, flows, edits."""

from __future__ import annotations

import base64
import copy
import json
from typing import Any

import pytest
from django.db import connection

from django_taskflow import models, operations
from django_taskflow.exceptions import PayloadTooLarge, UnserializablePayload
from django_taskflow.monitor import Failed, Running, monitor
from django_taskflow.states import Status
from django_taskflow.testing import run_tasks
from tests import encrypted_tasks
from tests.integration.test_encryption import raw_rows

pytestmark = pytest.mark.django_db(transaction=True)

KEY = {"id": "k1", "key": base64.b64encode(b"1" * 32).decode()}
SECRET = "odd-secret-9931"  # noqa: S105  # what must never show


def use_options(settings: Any, **options: Any) -> None:
    tasks_setting = copy.deepcopy(settings.TASKS)
    tasks_setting["default"]["OPTIONS"].update({"ENCRYPTION_KEYS": [KEY], **options})
    settings.TASKS = tasks_setting


@pytest.fixture(autouse=True)
def with_key(settings: Any) -> None:
    use_options(settings)


def all_rows() -> str:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT * FROM {models.Flow._meta.db_table}")  # our own table
        flows = "\n".join(map(repr, cursor.fetchall()))
    return raw_rows() + "\n" + flows


def test_nul_and_lone_surrogates_in_an_encrypted_tasks_texts_are_stored_sealed_and_read_back_escaped(
    admin_client: Any,
) -> None:
    result = encrypted_tasks.odd_texts.enqueue(SECRET)

    run_tasks()

    assert models.Task.objects.get(pk=result.id).status == Status.FAILED
    assert SECRET not in all_rows()
    result.refresh()
    assert "ValueError: failed on odd-secret-9931\\x00\\udcff" in result.errors[0].traceback
    states = list(monitor(result.id, timeout=5))
    [reported] = [s for s in states if isinstance(s, Running) and s.progress == 0.5]
    assert reported.detail == {"file": f"\\udcff{SECRET}\\x00"}
    assert isinstance(states[-1], Failed)
    assert states[-1].error is not None
    assert states[-1].error.message == f"failed on {SECRET}\\x00\\udcff"
    page = admin_client.get(f"/admin/django_taskflow/task/{result.id}/change/")
    assert page.status_code == 200
    assert f"failed on {SECRET}\\x00\\udcff" in page.content.decode()


@pytest.mark.parametrize("text", ["a\x00b", "a\udcffb"])
def test_text_the_database_cannot_hold_is_refused_in_encrypted_arguments_as_in_plain_ones(
    text: str,
) -> None:
    with pytest.raises(UnserializablePayload):
        encrypted_tasks.secret_result.enqueue(text)
    assert not models.Task.objects.exists()


def test_the_size_limit_applies_to_encrypted_arguments_as_stored(settings: Any) -> None:
    use_options(settings, MAX_PAYLOAD_BYTES=1000)
    fits_as_json = "x" * 900  # about 1,250 bytes once sealed and in base64

    with pytest.raises(PayloadTooLarge, match="as stored"):
        encrypted_tasks.secret_result.enqueue(fits_as_json)
    # Compressed before it is sealed, a larger call fits.
    result = encrypted_tasks.archive.enqueue("y" * 5000)
    run_tasks()
    result.refresh()
    assert result.return_value == "Y" * 5000


def test_an_encrypted_result_over_the_limit_as_stored_fails_its_task_clearly(
    settings: Any,
) -> None:
    use_options(settings, MAX_PAYLOAD_BYTES=1000)
    result = encrypted_tasks.repeat.enqueue("z", 600)  # about 850 bytes once sealed
    big = encrypted_tasks.repeat.enqueue("z", 720)  # 722 bytes of JSON, about 1,010 sealed

    run_tasks()

    assert models.Task.objects.get(pk=result.id).status == Status.SUCCEEDED
    row = models.Task.objects.get(pk=big.id)
    assert row.status == Status.FAILED
    attempt = row.attempt_set.get()
    assert attempt.error_class == "django_taskflow.exceptions.PayloadTooLarge"


def test_a_retry_with_edited_arguments_of_a_task_encrypted_for_one_enqueue_stays_encrypted() -> (
    None
):
    original = encrypted_tasks.plain_echo.using(encoder="encrypted").enqueue("first")
    models.Task.objects.filter(pk=original.id).update(status=Status.FAILED)

    retried = operations.retry_with_arguments(original.id, args=[SECRET], kwargs={})

    row = models.Task.objects.get(pk=retried.id)
    assert json.loads(row.encoding)["key"] == "k1"
    assert SECRET not in all_rows()
    run_tasks()
    retried.refresh()
    assert retried.return_value == SECRET


def test_the_dead_letter_list_shows_an_encrypted_error_redacted(admin_client: Any) -> None:
    failed = encrypted_tasks.leaky.enqueue(SECRET)
    run_tasks()

    page = admin_client.get("/admin/django_taskflow/deadletter/").content.decode()

    assert "builtins.ValueError" in page and str(failed.id) in page
    assert "taskflow-sealed" not in page
