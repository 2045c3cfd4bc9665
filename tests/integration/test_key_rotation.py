"""taskflow rotate-keys: every row under the first key, after which the old key can go."""

from __future__ import annotations

import base64
import io
import json
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from django_taskflow import models, payload_display
from django_taskflow.states import Status
from django_taskflow.testing import run_tasks
from tests import encrypted_tasks
from tests.integration.test_encryption import KEY_1, KEY_2, use_keys

pytestmark = pytest.mark.django_db(transaction=True)


def keys_in_rows() -> set[str | None]:
    return {
        json.loads(text).get("key")
        for text in models.Task.objects.values_list("encoding", flat=True)
    }


def test_rotation_re_encrypts_queued_and_finished_tasks_and_the_old_key_can_go(
    settings: Any,
) -> None:
    use_keys(settings, KEY_1)
    finished = [encrypted_tasks.archive.enqueue(f"done {n}") for n in range(3)]
    failed = encrypted_tasks.leaky.enqueue("rotated-secret")
    run_tasks()
    queued = [encrypted_tasks.archive.enqueue(f"later {n}") for n in range(4)]
    before = {row.pk: row.args for row in models.Task.objects.all()}
    use_keys(settings, KEY_2, KEY_1)
    out = io.StringIO()

    call_command("taskflow", "rotate-keys", "--batch-size", "2", "--json", stdout=out)

    report = json.loads(out.getvalue())
    assert report["rotated"] == 8 and report["current_key"] == "k2"
    assert keys_in_rows() == {"k2"}
    assert all(row.args != before[row.pk] for row in models.Task.objects.all())
    use_keys(settings, KEY_2)  # k1 removed
    run_tasks()
    for n, result in enumerate(finished):
        result.refresh()
        assert result.return_value == f"DONE {n}"
    for n, result in enumerate(queued):
        result.refresh()
        assert result.return_value == f"LATER {n}"
    # The failed task's error and progress were re-encrypted too: k2 reads them.
    row = models.Task.objects.get(pk=failed.id)
    attempt = row.attempt_set.get()
    assert (
        payload_display.attempt_text(
            row, 1, payload_display.ERROR_MESSAGE, attempt.error_message, reveal=True
        )
        == "failed on rotated-secret"
    )
    event = row.event_set.get(kind="progress")
    assert payload_display.event_data(event, row, reveal=True)["detail"] == {
        "note": "working on rotated-secret"
    }


def test_rotation_without_keys_or_with_a_row_it_cannot_read_is_an_error(settings: Any) -> None:
    use_keys(settings)  # none
    with pytest.raises(CommandError, match="rotate-keys needs"):
        call_command("taskflow", "rotate-keys")
    use_keys(settings, KEY_1)
    readable = encrypted_tasks.archive.enqueue("fine")
    lost = encrypted_tasks.archive.enqueue("under a key nobody has")
    models.Task.objects.filter(pk=lost.id).update(encoding='{"enc":"compressed","ev":1,"key":"k0"}')
    use_keys(settings, KEY_2, KEY_1)

    with pytest.raises(
        CommandError, match=rf"task {lost.id}: This process lacks encryption key 'k0'"
    ):
        call_command("taskflow", "rotate-keys", "--wait", "1", stdout=io.StringIO())

    row = models.Task.objects.get(pk=readable.id)
    assert json.loads(row.encoding)["key"] == "k2"
    assert row.status == Status.QUEUED
    assert base64.b64decode(row.args)  # still sealed


def test_rotation_re_encrypts_failure_events_and_a_cancelled_attempts_embedded_error(
    settings: Any,
) -> None:
    use_keys(settings, KEY_1)
    failed = encrypted_tasks.leaky.enqueue("rotated-secret")
    run_tasks()
    row = models.Task.objects.get(pk=failed.id)
    attempt = row.attempt_set.get()
    # As a cancel that arrived while the attempt failed stores it: a plain
    # prefix, then the attempt's own sealed error message.
    models.Attempt.objects.filter(pk=attempt.pk).update(
        error_message=f"cancelled by bob; the attempt ended with: {attempt.error_message}"
    )
    use_keys(settings, KEY_2, KEY_1)

    call_command("taskflow", "rotate-keys", "--json", stdout=io.StringIO())

    use_keys(settings, KEY_2)  # k1 removed
    row = models.Task.objects.get(pk=failed.id)
    message = row.attempt_set.get().error_message
    assert payload_display.attempt_text(
        row, 1, payload_display.ERROR_MESSAGE, message, reveal=True
    ) == ("cancelled by bob; the attempt ended with: failed on rotated-secret")
    assert payload_display.attempt_text(
        row, 1, payload_display.ERROR_MESSAGE, message, reveal=False
    ) == ("cancelled by bob; the attempt ended with: [encrypted]")
    failure = row.event_set.get(kind="failed")
    assert payload_display.event_data(failure, row, reveal=True)["error_message"] == (
        "failed on rotated-secret"
    )


def test_a_task_that_ends_under_the_old_key_after_the_last_pass_is_reported_left(
    settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from django_taskflow import key_rotation
    from django_taskflow.conf import parse_options

    use_keys(settings, KEY_1)
    running = encrypted_tasks.archive.enqueue("still running")
    models.Task.objects.filter(pk=running.id).update(status=Status.RUNNING)
    use_keys(settings, KEY_2, KEY_1)
    one_pass = key_rotation._one_pass

    def pass_then_the_task_ends(*args: Any, **kwargs: Any) -> int:
        rotated = one_pass(*args, **kwargs)
        # A worker finishes it (with the key it read) right after the pass skipped it.
        models.Task.objects.filter(pk=running.id).update(status=Status.SUCCEEDED)
        return rotated

    monkeypatch.setattr(key_rotation, "_one_pass", pass_then_the_task_ends)
    options = parse_options("default", settings.TASKS["default"]["OPTIONS"])

    report = key_rotation.rotate_keys(options, wait_seconds=0)

    assert not report.is_complete
    assert keys_in_rows() == {"k1"}


def test_a_rotation_stopped_mid_batch_leaves_each_task_whole_and_a_second_run_finishes(
    settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from django_taskflow import key_rotation

    use_keys(settings, KEY_1)
    failed = [encrypted_tasks.leaky.enqueue(f"stopped-secret-{n}") for n in range(4)]
    run_tasks()
    use_keys(settings, KEY_2, KEY_1)
    rotate_row = key_rotation._rotate_row
    calls = []

    def interrupted(*args: Any, **kwargs: Any) -> int:
        calls.append(1)
        if len(calls) == 4:
            raise KeyboardInterrupt  # Ctrl-C in the second batch
        return rotate_row(*args, **kwargs)

    monkeypatch.setattr(key_rotation, "_rotate_row", interrupted)
    with pytest.raises(KeyboardInterrupt):
        call_command("taskflow", "rotate-keys", "--batch-size", "2", stdout=io.StringIO())
    monkeypatch.setattr(key_rotation, "_rotate_row", rotate_row)

    assert sorted(
        json.loads(e).get("key") for e in models.Task.objects.values_list("encoding", flat=True)
    ) == ["k1", "k1", "k2", "k2"]
    call_command("taskflow", "rotate-keys", stdout=io.StringIO())
    call_command("taskflow", "rotate-keys", stdout=io.StringIO())  # nothing left: a no-op

    assert keys_in_rows() == {"k2"}
    use_keys(settings, KEY_2)  # k1 removed: every task reads, its errors included
    for n, result in enumerate(failed):
        row = models.Task.objects.get(pk=result.id)
        attempt = row.attempt_set.get()
        assert (
            payload_display.attempt_text(
                row, 1, payload_display.ERROR_MESSAGE, attempt.error_message, reveal=True
            )
            == f"failed on stopped-secret-{n}"
        )
