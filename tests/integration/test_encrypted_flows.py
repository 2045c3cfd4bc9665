"""Encrypted and encoded tasks as steps of flows.

A flow's row holds its steps' arguments, and the results passed between
them, as plain JSON: an encrypted task there would be stored in the clear.
Such steps are refused, before anything is written. An encoded (compressed)
step's result is passed on decoded.
"""

from __future__ import annotations

import pytest

from django_taskflow import InvalidTaskOptions, batch, chain, group, models
from django_taskflow.testing import run_tasks
from tests import encrypted_tasks, typed_tasks

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.mark.parametrize(
    "start",
    [
        lambda: chain(encrypted_tasks.secret_result.s("x"), encrypted_tasks.plain_echo.s()),
        lambda: chain(encrypted_tasks.plain_echo.s("x"), encrypted_tasks.secret_result.s()),
        lambda: chain(
            encrypted_tasks.plain_echo.s("x"),
            group(encrypted_tasks.plain_echo.using(encoder="encrypted").s()),
        ),
        lambda: chain(
            encrypted_tasks.plain_echo.s("x"), on_error=encrypted_tasks.secret_result.s("y")
        ),
    ],
)
def test_a_flow_with_an_encrypted_step_is_refused_before_anything_is_written(start) -> None:
    with pytest.raises(InvalidTaskOptions, match="is encrypted: a flow cannot hold"):
        start().enqueue()

    assert not models.Flow.objects.exists() and not models.Task.objects.exists()


def test_a_batch_of_an_encrypted_task_is_refused() -> None:
    with pytest.raises(InvalidTaskOptions, match="is encrypted: a flow cannot hold"):
        batch(encrypted_tasks.secret_result, [["a"], ["b"]])

    assert not models.Flow.objects.exists() and not models.Task.objects.exists()


def test_an_encrypted_child_fails_its_parents_attempt() -> None:
    parent = encrypted_tasks.spawns_a_secret_child.enqueue()

    run_tasks()

    row = models.Task.objects.get(pk=parent.id)
    assert row.status == "failed"
    assert row.attempt_set.get().error_class.endswith("InvalidTaskOptions")
    assert not models.Flow.objects.exists()


def test_a_compressed_steps_result_is_passed_on_decoded() -> None:
    text = "readable " * 300
    run = chain(typed_tasks.echo_compressed.s(text), encrypted_tasks.plain_echo.s()).enqueue()

    run_tasks()
    run.refresh()

    assert run.status == "succeeded"
    assert run.result == text
