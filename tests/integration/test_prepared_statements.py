"""PostgreSQL: with ``prepare_threshold`` set, the worker's claim and record are prepared.

The test project sets ``"prepare_threshold": 5`` as docs/howto/postgres.md
advises; Django's default (unset) prepares nothing, for poolers' sake.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.db import connection

from django_taskflow import models
from django_taskflow.testing import run_tasks
from tests import tasks

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="psycopg's prepared statements"),
]


def prepared_statements() -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements")
        return [row[0] for row in cursor.fetchall()]


@pytest.fixture
def threshold() -> Iterator[None]:
    """A fresh server session (none of an earlier test's statements), its threshold restored."""
    connection.close()
    connection.ensure_connection()
    yield
    connection.close()


def run_one_at_a_time(count: int) -> None:
    for number in range(count):
        tasks.add.enqueue(number, 1)
        assert run_tasks() == 1


def test_the_claim_and_the_record_are_prepared_after_a_few_runs(threshold: None) -> None:
    assert connection.settings_dict["OPTIONS"]["prepare_threshold"] == 5
    connection.connection.prepare_threshold = 2  # the same path, fewer runs

    run_one_at_a_time(4)

    statements = prepared_statements()
    assert any("FOR UPDATE SKIP LOCKED" in text for text in statements)
    assert any("jsonb_to_recordset" in text for text in statements)  # the record
    assert models.Task.objects.filter(status="succeeded").count() == 4
    assert sorted(models.Task.objects.values_list("result", flat=True)) == [1, 2, 3, 4]


def test_without_a_threshold_nothing_is_prepared(threshold: None) -> None:
    connection.connection.prepare_threshold = None

    run_one_at_a_time(7)

    assert prepared_statements() == []
    assert models.Task.objects.filter(status="succeeded").count() == 7
