"""The task list stays cheap on a big history: bounded counts, estimates, cheap choices."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from django.db import connection
from django.db.migrations.loader import MigrationLoader
from django.db.migrations.operations import AddIndex, RemoveIndex
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from django_taskflow import models
from django_taskflow.admin_paginator import EstimatedCountPaginator
from django_taskflow.db.concurrent_indexes import (
    AddIndexConcurrentlyOnPostgres,
    RemoveIndexConcurrentlyOnPostgres,
)
from django_taskflow.testing import run_tasks
from tests import tasks
from tests.conftest import claim_for

CHANGELIST = reverse("admin:django_taskflow_task_changelist")
TASK_TABLE = models.Task._meta.db_table
on_postgres = connection.vendor == "postgresql"


@pytest.fixture
def small_limit(monkeypatch: pytest.MonkeyPatch) -> int:
    """An exact-count limit that a test passes with a handful of tasks."""
    monkeypatch.setattr(EstimatedCountPaginator, "exact_count_limit", 5)
    return 5


def task_reads(queries: CaptureQueriesContext) -> Iterator[str]:
    for query in queries.captured_queries:
        if re.search(rf'FROM "?{TASK_TABLE}"?', query["sql"]):
            yield query["sql"]


@pytest.mark.django_db
def test_a_short_list_is_counted_exactly() -> None:
    """On PostgreSQL too, below the limit, even before the table was ever analyzed."""
    tasks.add.enqueue_many([(number, 1) for number in range(7)])
    paginator = EstimatedCountPaginator(models.Task.objects.order_by("-enqueued_at"), 100)
    assert paginator.count == 7
    assert not paginator.is_estimate


@pytest.mark.django_db
def test_a_filter_no_row_can_pass_counts_zero() -> None:
    paginator = EstimatedCountPaginator(models.Task.objects.filter(pk__in=[]), 100)
    assert paginator.count == 0


@pytest.mark.django_db
def test_an_estimate_too_low_costs_a_bounded_count_only(
    small_limit: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A planner that thinks the list short: the count stops after limit + 1 rows."""
    monkeypatch.setattr("django_taskflow.admin_paginator.estimated_count", lambda tasks: 2)
    tasks.add.enqueue_many([(number, 1) for number in range(12)])
    paginator = EstimatedCountPaginator(models.Task.objects.order_by("-enqueued_at"), 100)
    with CaptureQueriesContext(connection) as queries:
        assert paginator.count == small_limit + 1
    assert paginator.is_estimate
    counts = [sql for sql in task_reads(queries) if "COUNT(" in sql.upper()]
    assert len(counts) == 1 and f"LIMIT {small_limit + 1}" in counts[0], counts


@pytest.mark.django_db
@pytest.mark.skipif(on_postgres, reason="SQLite keeps no estimates")
def test_sqlite_counts_exactly_past_the_limit(small_limit: int) -> None:
    tasks.add.enqueue_many([(number, 1) for number in range(12)])
    paginator = EstimatedCountPaginator(models.Task.objects.order_by("-enqueued_at"), 100)
    assert paginator.count == 12
    assert not paginator.is_estimate


@pytest.mark.django_db
@pytest.mark.skipif(not on_postgres, reason="PostgreSQL's row estimates")
def test_postgres_estimates_past_the_limit_and_never_counts_every_row(small_limit: int) -> None:
    tasks.add.enqueue_many([(number, 1) for number in range(40)])
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {TASK_TABLE}")
    paginator = EstimatedCountPaginator(models.Task.objects.order_by("-enqueued_at"), 100)
    with CaptureQueriesContext(connection) as queries:
        count = paginator.count
    assert paginator.is_estimate
    assert 20 <= count <= 80  # the planner's estimate of 40 rows
    assert any(query["sql"].startswith("EXPLAIN") for query in queries.captured_queries)
    assert not [sql for sql in task_reads(queries) if "COUNT(" in sql.upper()]


@pytest.mark.django_db
@pytest.mark.skipif(not on_postgres, reason="SQLite counts exactly (no estimates)")
@pytest.mark.parametrize(
    "query",
    [
        "",
        "p=2",
        "status__exact=failed",
        "task_path__exact=tests.tasks.add",
        "queue_name__exact=default",
        "tag=nightly",
        "worker=host:1:slot:1",
        "finished_at__isnull=True",
        "q=tests.tasks.a",
        "q=invoice-7",
    ],
)
def test_the_list_never_counts_the_whole_table(
    admin_client: Client, small_limit: int, query: str
) -> None:
    tasks.add.using(tags=["nightly"]).enqueue_many([(number, 1) for number in range(12)])
    tasks.fail_once.enqueue()
    run_tasks()
    tasks.add.using(key="invoice-7").enqueue(1, 2)
    claim_for("host:1:slot:1")
    with CaptureQueriesContext(connection) as queries:
        response = admin_client.get(f"{CHANGELIST}?{query}")
    assert response.status_code == 200
    estimated = any(query["sql"].startswith("EXPLAIN") for query in queries.captured_queries)
    counts = [sql for sql in task_reads(queries) if "COUNT(" in sql.upper()]
    assert estimated or counts, "the list estimates or counts its rows"
    for sql in counts:
        assert f"LIMIT {small_limit + 1}" in sql, sql


@pytest.mark.django_db
def test_estimated_counts_read_about(admin_client: Client, small_limit: int) -> None:
    tasks.add.enqueue_many([(number, 1) for number in range(12)])
    text = admin_client.get(CHANGELIST).content.decode()
    if on_postgres:
        assert re.search(r"about \d+ tasks", text)
    else:
        assert "12 tasks" in text and "about" not in text


@pytest.mark.django_db
def test_filter_choices_do_not_scan_the_task_table(admin_client: Client) -> None:
    # More than a page: a list shorter than a page is read whole, as counted.
    tasks.add.using(tags=["nightly"]).enqueue_many([(number, 1) for number in range(120)])
    claim_for("host:1:slot:1")
    with CaptureQueriesContext(connection) as queries:
        response = admin_client.get(CHANGELIST)
    assert response.status_code == 200
    for sql in task_reads(queries):
        if sql.startswith("EXPLAIN"):
            continue  # the count's estimate: the planner reads no row
        # Every read of the task table is bounded (a page, the recent rows,
        # a bounded count) or reads the running tasks' partial index.
        assert "LIMIT" in sql or "'running'" in sql, sql
        assert "DISTINCT" not in sql.upper() or "'running'" in sql, sql


@pytest.mark.django_db
def test_task_and_queue_filters_offer_what_the_code_defines(admin_client: Client) -> None:
    text = admin_client.get(CHANGELIST).content.decode()  # no task in the table
    assert "?task_path__exact=tests.tasks.add" in text
    assert "?queue_name__exact=default" in text


@pytest.mark.django_db
def test_worker_filter_shows_running_tasks_only(admin_client: Client) -> None:
    running = tasks.add.enqueue(1, 2).id
    claim_for("host:1:slot:1")
    models.Task.objects.exclude(pk=running).update(worker_id="host:1:slot:1")
    tasks.add.enqueue(3, 4)
    response = admin_client.get(f"{CHANGELIST}?worker=host:1:slot:1")
    assert {str(task.pk) for task in response.context["cl"].result_list} == {str(running)}


def test_index_migrations_on_the_busy_tables_build_concurrently() -> None:
    """After 0001 (which creates them), no migration locks the task, attempt or event table."""
    loader = MigrationLoader(None, ignore_no_migrations=True)
    busy = {"task", "attempt", "event"}
    checked = 0
    for (app, name), migration in loader.disk_migrations.items():
        if app != "django_taskflow" or name == "0001_initial":
            continue
        for operation in migration.operations:
            if isinstance(operation, AddIndex | RemoveIndex) and operation.model_name_lower in busy:
                checked += 1
                assert isinstance(
                    operation, AddIndexConcurrentlyOnPostgres | RemoveIndexConcurrentlyOnPostgres
                ), f"{name}: {operation.describe()} is not concurrent"
                assert migration.atomic is False, f"{name} must be non-atomic"
    assert checked
