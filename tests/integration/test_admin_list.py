"""The task list's columns, filters and search, and the task page's readable values."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlencode

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from django_taskflow import models, operations
from django_taskflow.testing import run_tasks
from tests import tasks
from tests.conftest import claim_for

pytestmark = pytest.mark.django_db

CHANGELIST = reverse("admin:django_taskflow_task_changelist")


def shown(client: Client, query: str) -> set[str]:
    response = client.get(CHANGELIST + "?" + query)
    assert response.status_code == 200
    return {str(task.pk) for task in response.context["cl"].result_list}


def test_tag_filter(admin_client: Client) -> None:
    tagged = tasks.add.using(tags=["nightly", "billing"]).enqueue(1, 2).id
    tasks.add.using(tags=["other"]).enqueue(1, 2)
    assert shown(admin_client, "tag=billing") == {tagged}
    assert "nightly" in admin_client.get(CHANGELIST).content.decode()  # offered as a choice


def test_worker_filter(admin_client: Client) -> None:
    first = tasks.add.enqueue(1, 2).id
    claim_for("host:1:slot:1")
    tasks.add.enqueue(3, 4)
    claim_for("host:1:slot:2")
    tasks.add.enqueue(5, 6)
    assert shown(admin_client, "worker=host:1:slot:1") == {first}


def test_date_range_filters(admin_client: Client) -> None:
    old = tasks.add.enqueue(1, 2).id
    models.Task.objects.filter(pk=old).update(enqueued_at=timezone.now() - timedelta(days=30))
    recent = tasks.add.enqueue(3, 4).id
    today = timezone.localtime().replace(hour=0, minute=0, second=0, microsecond=0)
    since_today = urlencode({"enqueued_at__gte": str(today)})
    assert shown(admin_client, since_today) == {recent}
    run_tasks()
    assert shown(admin_client, urlencode({"finished_at__gte": str(today)})) == {old, recent}


def test_search_by_id_key_and_name_prefix(admin_client: Client) -> None:
    by_key = tasks.add.using(key="invoice-42").enqueue(1, 2).id
    other = tasks.echo.enqueue("x").id
    assert shown(admin_client, f"q={other}") == {other}
    assert shown(admin_client, "q=invoice-42") == {by_key}
    assert shown(admin_client, "q=tests.tasks.ec") == {other}
    assert shown(admin_client, "q=tasks.echo") == set()  # a prefix, not a substring
    assert shown(admin_client, "q=invoice") == set()  # keys match exactly


def test_the_list_never_reads_the_large_json_columns(admin_client: Client) -> None:
    tasks.echo.enqueue({"big": "x" * 10_000})
    run_tasks()
    with CaptureQueriesContext(connection) as queries:
        response = admin_client.get(CHANGELIST)
    assert response.status_code == 200
    table = models.Task._meta.db_table
    reads = [q["sql"] for q in queries.captured_queries if f'FROM "{table}"' in q["sql"]]
    assert reads
    for column in ("args", "kwargs", "result", "progress_detail"):
        assert not any(f'"{table}"."{column}"' in sql for sql in reads), column


def test_list_columns_status_colour_attempts_and_progress(admin_client: Client) -> None:
    tasks.fail_always.enqueue("x")
    run_tasks()
    content = admin_client.get(CHANGELIST).content.decode()
    assert "color: #dc3545" in content and "Failed" in content
    assert "3/3" in content


def test_the_page_shows_arguments_and_result_as_escaped_json(admin_client: Client) -> None:
    result = tasks.echo.enqueue({"html": "<script>alert(1)</script>", "n": [1, 2]})
    run_tasks()
    page = admin_client.get(reverse("admin:django_taskflow_task_change", args=[result.id]))
    content = page.content.decode()
    assert "<script>alert(1)</script>" not in content
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in content
    assert "&quot;n&quot;: [\n      1,\n      2\n    ]" in content  # indented


def test_the_page_links_a_requeued_task_to_its_original(admin_client: Client) -> None:
    original = tasks.add.enqueue(1, 2).id
    run_tasks()
    (copy,) = operations.requeue(original).new_ids
    page = admin_client.get(reverse("admin:django_taskflow_task_change", args=[copy]))
    assert reverse("admin:django_taskflow_task_change", args=[original]) in page.content.decode()


def test_search_by_name_prefix_is_served_by_an_index(admin_client: Client) -> None:
    if connection.vendor != "postgresql":
        pytest.skip("the planner's choice is checked on PostgreSQL")
    from django_taskflow.admin_filters import search_tasks

    tasks.add.enqueue(1, 2)
    query = search_tasks(models.Task.objects.all(), "tests.tasks.ad")
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        plan = query.explain()
    assert "taskflow_task_path_prefix_idx" in plan, plan
    assert "Seq Scan" not in plan, plan
