"""Which claims wait for the disk: only those a server crash must not undo."""

from __future__ import annotations

import pytest
from django.db import connection, transaction

from tests import tasks
from tests.conftest import claim_for

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's commit setting"),
]


def synchronous_commit_after_claiming() -> str:
    # Inside a transaction, the setting the claim chose holds until its commit.
    with transaction.atomic(), connection.cursor() as cursor:
        claim_for("W", limit=10)
        cursor.execute("SHOW synchronous_commit")
        return str(cursor.fetchone()[0])


def test_a_claim_of_tasks_that_may_run_again_does_not_wait_for_the_disk() -> None:
    tasks.add.enqueue(1, 2)
    assert synchronous_commit_after_claiming() == "off"


def test_a_claim_that_takes_a_task_that_must_not_run_twice_is_durable() -> None:
    tasks.add.enqueue(1, 2)
    tasks.add.using(on_lost="fail").enqueue(3, 4)
    assert synchronous_commit_after_claiming() == "on"


def test_the_setting_ends_with_the_claim() -> None:
    tasks.add.enqueue(1, 2)
    claim_for("W")  # in autocommit: its own transaction
    with connection.cursor() as cursor:
        cursor.execute("SHOW synchronous_commit")
        assert cursor.fetchone()[0] == "on"
