"""Encryption at rest: nothing readable in the rows, ciphertexts bound to their place."""

from __future__ import annotations

import base64
import copy
import json
import os
import subprocess
from typing import Any

import pytest
from django.db import connection

from django_taskflow import models
from django_taskflow.exceptions import MissingEncryptionKey
from django_taskflow.states import Status
from django_taskflow.testing import run_tasks
from tests import encrypted_tasks, typed_tasks
from tests.encrypted_tasks import Patient

pytestmark = pytest.mark.django_db(transaction=True)

KEY_1 = {"id": "k1", "key": base64.b64encode(b"1" * 32).decode()}
KEY_2 = {"id": "k2", "key": base64.b64encode(b"2" * 32).decode()}
SECRETS = ("Ada Secretperson", "rare-condition-xyz", "ward-7-north")


def use_keys(settings: Any, *keys: dict[str, str]) -> None:
    tasks_setting = copy.deepcopy(settings.TASKS)
    tasks_setting["default"]["OPTIONS"]["ENCRYPTION_KEYS"] = list(keys)
    settings.TASKS = tasks_setting


@pytest.fixture
def with_k1(settings: Any) -> None:
    use_keys(settings, KEY_1)


def raw_rows() -> str:
    """Every column of every row of the task and attempt tables, as the database returns them."""
    found = []
    with connection.cursor() as cursor:
        for table in (
            models.Task._meta.db_table,
            models.Attempt._meta.db_table,
            models.Event._meta.db_table,
        ):
            cursor.execute(f"SELECT * FROM {table}")  # our own table names
            found.extend(map(repr, cursor.fetchall()))
    return "\n".join(found)


def test_the_raw_rows_of_an_encrypted_task_hold_no_plaintext(with_k1: None) -> None:
    result = encrypted_tasks.treat.enqueue(Patient(SECRETS[0], SECRETS[1]), ward=SECRETS[2])
    failing = encrypted_tasks.leaky.enqueue("leaky-secret-42")
    row = models.Task.objects.get(pk=result.id)
    assert row.encoding == '{"key":"k1"}'
    assert isinstance(row.args, str) and row.kwargs == {}

    run_tasks()

    attempt = models.Attempt.objects.get(task_id=failing.id)
    assert attempt.error_class == "builtins.ValueError"  # the class stays readable
    assert attempt.error_message.startswith("taskflow-sealed:")
    assert attempt.traceback.startswith("taskflow-sealed:")
    progress = models.Event.objects.get(task_id=failing.id, kind="progress").data
    assert progress["progress"] == 0.5 and set(progress["detail"]) == {"sealed"}
    result.refresh()
    assert result.return_value == f"treated {SECRETS[0]} ({SECRETS[1]}) in {SECRETS[2]}"
    assert result.args == [{"name": SECRETS[0], "diagnosis": SECRETS[1]}]
    dump = raw_rows()
    assert str(result.id) in dump or result.id.replace("-", "") in dump  # the rows are there
    for secret in (*SECRETS, "treated", "leaky-secret-42"):
        assert secret not in dump
    assert "args=[encrypted]" in repr(result) and SECRETS[0] not in repr(result)


@pytest.mark.skipif(connection.vendor != "postgresql", reason="pg_dump reads PostgreSQL")
def test_a_pg_dump_of_the_database_holds_no_plaintext(with_k1: None) -> None:
    encrypted_tasks.treat.enqueue(Patient(SECRETS[0], SECRETS[1]), ward=SECRETS[2])
    run_tasks()
    plain = typed_tasks.echo.enqueue(
        "visible-marker-123"
    )  # the dump does hold what is not encrypted
    settings_dict = connection.settings_dict

    dump = subprocess.run(
        [
            "pg_dump",
            "--data-only",
            "-h", settings_dict.get("HOST") or "127.0.0.1",
            "-p", str(settings_dict.get("PORT") or 5432),
            "-U", settings_dict.get("USER") or "postgres",
            settings_dict["NAME"],
        ],
        capture_output=True, text=True, check=True, env={**os.environ, "PGCONNECT_TIMEOUT": "10"},
    ).stdout  # fmt: skip

    assert str(plain.id) in dump and "visible-marker-123" in dump
    for secret in (*SECRETS, "treated", "leaky-secret-42"):
        assert secret not in dump


def test_a_compressed_encrypted_task_makes_a_round_trip(with_k1: None) -> None:
    result = encrypted_tasks.archive.enqueue("confidential " * 500)
    assert models.Task.objects.get(pk=result.id).encoding == (
        '{"enc":"compressed","ev":1,"key":"k1"}'
    )
    run_tasks()
    result.refresh()
    assert result.return_value == "CONFIDENTIAL " * 500
    assert "confidential" not in raw_rows().lower()


def test_ciphertext_swapped_between_two_rows_is_rejected_for_those_rows_only(
    with_k1: None,
) -> None:
    first = encrypted_tasks.archive.enqueue("first")
    second = encrypted_tasks.archive.enqueue("second")
    untouched = encrypted_tasks.archive.enqueue("third")
    first_args = models.Task.objects.get(pk=first.id).args
    second_args = models.Task.objects.get(pk=second.id).args
    models.Task.objects.filter(pk=first.id).update(args=second_args)
    models.Task.objects.filter(pk=second.id).update(args=first_args)

    run_tasks()

    for swapped in (first, second):
        row = models.Task.objects.get(pk=swapped.id)
        assert row.status == Status.FAILED
        attempt = row.attempt_set.get()
        assert attempt.error_class == "django_taskflow.exceptions.TamperedPayload"
        assert attempt.error_message == (
            "The encrypted arguments failed authentication with key 'k1': it was changed, "
            "or copied from another task or field."
        )
    untouched.refresh()
    assert untouched.return_value == "THIRD"


def test_ciphertext_moved_from_the_arguments_to_the_result_is_rejected(with_k1: None) -> None:
    result = encrypted_tasks.archive.enqueue("moved")
    run_tasks()
    row = models.Task.objects.get(pk=result.id)
    # The sealed arguments, as a result: same row, another field.
    models.Task.objects.filter(pk=result.id).update(result=row.args)

    result.refresh()  # the snapshot is still built, without the value

    assert result.return_value is None
    assert result.args == ["moved"]


def test_a_flipped_bit_fails_only_that_task(with_k1: None) -> None:
    tampered = encrypted_tasks.archive.enqueue("tampered")
    fine = encrypted_tasks.archive.enqueue("fine")
    sealed = bytearray(base64.b64decode(models.Task.objects.get(pk=tampered.id).args))
    sealed[-1] ^= 1
    models.Task.objects.filter(pk=tampered.id).update(args=base64.b64encode(sealed).decode())

    run_tasks()

    assert models.Task.objects.get(pk=tampered.id).status == Status.FAILED
    fine.refresh()
    assert fine.return_value == "FINE"


def test_a_wrong_key_under_the_same_id_fails_only_the_affected_task(settings: Any) -> None:
    use_keys(settings, KEY_1)
    affected = encrypted_tasks.archive.enqueue("under the real k1")
    use_keys(settings, {"id": "k1", "key": base64.b64encode(b"9" * 32).decode()})
    unaffected = encrypted_tasks.archive.enqueue("under the wrong k1")
    plain = typed_tasks.echo.enqueue("plain")

    run_tasks()

    row = models.Task.objects.get(pk=affected.id)
    assert row.status == Status.FAILED
    assert row.attempt_set.get().error_class == "django_taskflow.exceptions.TamperedPayload"
    assert models.Task.objects.get(pk=unaffected.id).status == Status.SUCCEEDED
    assert models.Task.objects.get(pk=plain.id).status == Status.SUCCEEDED


def test_an_encrypted_task_without_a_key_is_refused_at_enqueue(settings: Any) -> None:
    use_keys(settings)  # none: OPTIONS wins over TASKFLOW_ENCRYPTION_KEYS
    with pytest.raises(MissingEncryptionKey, match="no key is configured"):
        encrypted_tasks.archive.enqueue("x")
    assert not models.Task.objects.exists()


def test_new_writes_use_the_first_key_and_older_keys_still_read(settings: Any) -> None:
    use_keys(settings, KEY_1)
    old = encrypted_tasks.archive.enqueue("old")
    use_keys(settings, KEY_2, KEY_1)
    new = encrypted_tasks.archive.enqueue("new")

    run_tasks()

    assert models.Task.objects.get(pk=old.id).encoding == ('{"enc":"compressed","ev":1,"key":"k1"}')
    assert models.Task.objects.get(pk=new.id).encoding == ('{"enc":"compressed","ev":1,"key":"k2"}')
    old.refresh()
    new.refresh()
    assert (old.return_value, new.return_value) == ("OLD", "NEW")


def test_a_requeued_encrypted_task_gets_its_own_ciphertext_and_runs(with_k1: None) -> None:
    from django_taskflow import operations

    original = encrypted_tasks.archive.enqueue("again")
    run_tasks()

    report = operations.requeue([original.id], by="tester")

    assert report.changed == 1
    copy = models.Task.objects.get(original=original.id)
    assert copy.args != models.Task.objects.get(pk=original.id).args
    run_tasks()
    copy.refresh_from_db()
    assert copy.status == Status.SUCCEEDED
    assert encrypted_tasks.archive.get_result(str(copy.pk)).return_value == "AGAIN"


def test_taskflow_show_redacts_an_encrypted_task_and_decodes_a_compressed_one(
    with_k1: None,
) -> None:
    import io

    from django.core.management import call_command

    failed = encrypted_tasks.leaky.enqueue("shown-secret")
    compressed = typed_tasks.echo_compressed.enqueue("readable " * 300)
    run_tasks()

    out = io.StringIO()
    call_command("taskflow", "show", failed.id, "--json", "-v", "2", stdout=out)
    shown = out.getvalue()
    assert "shown-secret" not in shown and "taskflow-sealed" not in shown
    assert json.loads(shown)["task"]["args"] == "[encrypted]"
    assert json.loads(shown)["attempts"][0]["error_message"] == "[encrypted]"

    out = io.StringIO()
    call_command("taskflow", "show", compressed.id, "--json", stdout=out)
    assert json.loads(out.getvalue())["task"]["args"] == ["readable " * 300]
