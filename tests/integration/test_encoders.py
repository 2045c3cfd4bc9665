"""Encoders: the compressed one above its threshold, a custom one, an unknown one, the size limit."""

from __future__ import annotations

import base64
import json
import zlib
from dataclasses import dataclass
from typing import Any

import pytest

from django_taskflow import PayloadTooLarge, models, register_encoder
from django_taskflow.exceptions import InvalidTaskOptions, UnknownEncoding
from django_taskflow.states import Status
from django_taskflow.testing import run_tasks
from tests import typed_tasks

pytestmark = pytest.mark.django_db(transaction=True)


def stored_bytes(value: Any) -> bytes:
    assert isinstance(value, str), value
    return base64.b64decode(value)


def test_the_compressed_encoder_compresses_from_its_threshold_only() -> None:
    small = typed_tasks.echo_compressed.enqueue("short")
    large = typed_tasks.echo_compressed.enqueue("spam " * 2_000)

    small_row, large_row = (models.Task.objects.get(pk=r.id) for r in (small, large))
    assert small_row.encoding == large_row.encoding == '{"enc":"compressed","ev":1}'
    assert stored_bytes(small_row.args) == b'j[["short"],{}]'
    compressed = stored_bytes(large_row.args)
    assert compressed[:1] == b"z"
    assert json.loads(zlib.decompress(compressed[1:])) == [["spam " * 2_000], {}]
    assert len(compressed) < 200  # 10,000 characters of JSON
    assert large_row.kwargs == {}

    run_tasks()

    large.refresh()
    assert large.return_value == "spam " * 2_000
    assert stored_bytes(models.Task.objects.get(pk=large.id).result)[:1] == b"z"
    small.refresh()
    assert (small.status.name, small.return_value) == ("SUCCESSFUL", "short")


def test_the_encoder_can_be_chosen_for_one_enqueue() -> None:
    result = typed_tasks.echo.using(encoder="compressed").enqueue("x" * 5_000)
    plain = typed_tasks.echo.enqueue("y")

    assert models.Task.objects.get(pk=result.id).encoding == '{"enc":"compressed","ev":1}'
    assert models.Task.objects.get(pk=plain.id).args == ["y"]
    run_tasks()
    result.refresh()
    assert result.return_value == "x" * 5_000


@dataclass(frozen=True)
class Reversing:
    """A custom encoder whose version 1 also reversed, and version 2 adds a prefix."""

    version: int = 2

    def encode(self, data: bytes) -> bytes:
        return b"R2" + data[::-1]

    def decode(self, data: bytes, version: int) -> bytes:
        return data[2:][::-1] if version == 2 else data[::-1]


def test_a_custom_encoder_writes_and_reads_its_own_format_and_versions() -> None:
    register_encoder("reversing-test", Reversing())
    result = typed_tasks.echo.using(encoder="reversing-test").enqueue("abc")
    row = models.Task.objects.get(pk=result.id)
    assert row.encoding == '{"enc":"reversing-test","ev":2}'
    assert stored_bytes(row.args) == b"R2" + b'[["abc"],{}]'[::-1]
    # A row its version 1 wrote, before the encoder changed: still readable.
    old = models.Task.objects.create(
        task_path=typed_tasks.echo.module_path,
        args=base64.b64encode(b'[["old"],{}]'[::-1]).decode(),
        kwargs={},
        encoding='{"enc":"reversing-test","ev":1}',
    )

    run_tasks()

    result.refresh()
    assert result.return_value == "abc"
    old.refresh_from_db()
    assert old.status == Status.SUCCEEDED


def test_an_unknown_encoder_fails_that_task_only() -> None:
    unknown = models.Task.objects.create(
        task_path=typed_tasks.echo.module_path,
        args="e30=",
        kwargs={},
        encoding='{"enc":"from-another-deploy","ev":1}',
    )
    fine = typed_tasks.echo.enqueue("still runs")

    run_tasks()

    unknown.refresh_from_db()
    assert unknown.status == Status.FAILED
    attempt = unknown.attempt_set.get()
    assert attempt.error_class == "django_taskflow.exceptions.UnknownEncoding"
    assert "No encoder is registered as 'from-another-deploy'" in attempt.error_message
    assert models.Task.objects.get(pk=fine.id).status == Status.SUCCEEDED


def test_an_unknown_encoder_is_refused_at_enqueue() -> None:
    with pytest.raises(UnknownEncoding, match="No encoder is registered as 'nope'"):
        typed_tasks.echo.using(encoder="nope").enqueue("x")
    assert not models.Task.objects.exists()


def test_the_size_limit_applies_to_the_stored_bytes(settings: Any) -> None:
    settings.TASKS = {
        "default": {
            "BACKEND": "django_taskflow.backend.TaskflowBackend",
            "OPTIONS": {"MAX_PAYLOAD_BYTES": 400},
        }
    }
    # 2,000 bytes of JSON, a few dozen compressed: under the limit as stored.
    typed_tasks.echo_compressed.enqueue("a" * 2_000)
    with pytest.raises(PayloadTooLarge, match=r"take \d+ bytes as stored \(compressed\)"):
        # Random-looking text does not compress; base64 makes it larger still.
        typed_tasks.echo_compressed.enqueue("".join(chr(33 + (i * 7919) % 90) for i in range(380)))


def test_register_encoder_refuses_a_bad_encoder_or_the_reserved_name() -> None:
    with pytest.raises(InvalidTaskOptions, match="'encrypted'"):
        register_encoder("encrypted", Reversing())
    with pytest.raises(InvalidTaskOptions, match="must have encode"):
        register_encoder("broken", object())  # type: ignore[arg-type]
