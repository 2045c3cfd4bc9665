"""Listing, filtering, paging and reading tasks; who sees which, and their payloads."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from django_taskflow import models
from django_taskflow.testing import run_tasks
from tests import tasks
from tests.api import tasks as api_tasks
from tests.api.conftest import API, ids, owned

pytestmark = pytest.mark.django_db


def test_staff_list_newest_first_without_payload(make_user: Callable, client_for: Callable) -> None:
    first = tasks.add.enqueue(1, 2).id
    second = tasks.echo.enqueue({"secret": "s3cret"}).id
    response = client_for(make_user("view_payload", staff=True)).get(f"{API}/tasks/")
    assert response.status_code == 200
    assert ids(response) == [second, first]
    row = response.json()["results"][0]
    assert row["task"] == "tests.tasks.echo"
    assert row["status"] == "queued"
    assert "args" not in row and "result" not in row
    assert "s3cret" not in response.content.decode()


def test_pages_follow_a_cursor_and_never_count(make_user: Callable, client_for: Callable) -> None:
    # enqueue_many gives all seven the same enqueued_at: the id breaks the tie.
    made = [result.id for result in tasks.add.enqueue_many([(n, n) for n in range(7)])]
    client = client_for(make_user(staff=True))
    seen: list[str] = []
    url = f"{API}/tasks/?page_size=3"
    with CaptureQueriesContext(connection) as queries:
        while url:
            page = client.get(url).json()
            assert "count" not in page
            seen += [row["id"] for row in page["results"]]
            url = page["next"]
    assert sorted(seen) == sorted(made)
    assert len(seen) == 7
    assert not [q for q in queries.captured_queries if "COUNT(" in q["sql"].upper()]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("status=failed", ["failed"]),
        ("status=failed&status=queued", ["failed", "queued"]),
        ("name=compile_report", ["report"]),
        ("name=tests.tasks.fail_once", ["failed"]),
        ("queue=emails", ["emails"]),
        ("tag=reports", ["report"]),
    ],
)
def test_filters(
    make_user: Callable, client_for: Callable, query: str, expected: list[str]
) -> None:
    failed = tasks.fail_once.enqueue().id
    run_tasks()
    labels = {
        failed: "failed",
        tasks.add.enqueue(1, 1).id: "queued",
        tasks.noop.using(queue_name="emails").enqueue().id: "emails",
        api_tasks.compile_report.enqueue(2026).id: "report",
    }
    response = client_for(make_user(staff=True)).get(f"{API}/tasks/?{query}")
    assert response.status_code == 200
    found = sorted(labels[task_id] for task_id in ids(response))
    if query == "status=failed&status=queued":
        assert found == ["emails", "failed", "queued", "report"]
    else:
        assert found == expected


def test_filters_read_no_more_rows_than_the_page(make_user: Callable, client_for: Callable) -> None:
    # DISTINCT (django-filter's default for several choices) would read every
    # matching row before the first page; nothing here can repeat a row.
    client = client_for(make_user(staff=True))
    with CaptureQueriesContext(connection) as queries:
        client.get(f"{API}/tasks/?status=failed&status=queued&name=tests.tasks.add&tag=x")
    [listing] = [q["sql"] for q in queries.captured_queries if "django_taskflow_task" in q["sql"]]
    assert "DISTINCT" not in listing.upper()
    assert "LIMIT" in listing.upper()


def test_filter_by_dates(make_user: Callable, client_for: Callable) -> None:
    old = tasks.add.enqueue(1, 1).id
    models.Task.objects.filter(pk=old).update(enqueued_at=timezone.now() - timedelta(days=2))
    new = tasks.add.enqueue(2, 2).id
    client = client_for(make_user(staff=True))
    since = (timezone.now() - timedelta(days=1)).isoformat()
    assert ids(client.get(f"{API}/tasks/", {"enqueued_after": since})) == [new]
    assert ids(client.get(f"{API}/tasks/", {"enqueued_before": since})) == [old]


def test_bad_filters_are_400s(make_user: Callable, client_for: Callable) -> None:
    client = client_for(make_user(staff=True))
    unknown = client.get(f"{API}/tasks/?name=no_such_function")
    assert unknown.status_code == 400
    assert "no_such_function" in unknown.json()["name"][0]
    ambiguous = client.get(f"{API}/tasks/?name=add")  # tests.tasks and the demo have one
    assert ambiguous.status_code == 400
    assert "tests.tasks.add" in ambiguous.json()["name"][0]
    assert client.get(f"{API}/tasks/?status=sleeping").status_code == 400
    assert client.get(f"{API}/tasks/?enqueued_after=yesterday").status_code == 400


def test_retrieve_shows_attempts_and_events(make_user: Callable, client_for: Callable) -> None:
    task_id = tasks.fail_always.enqueue("it broke").id  # three attempts, no delay
    run_tasks()
    response = client_for(make_user("view_payload", staff=True)).get(f"{API}/tasks/{task_id}/")
    assert response.status_code == 200
    body = response.json()
    assert body["args"] == ["it broke"]
    assert body["payload_visible"] is True
    attempts = body["attempt_history"]
    assert body["status"] == "failed"
    assert [a["number"] for a in attempts] == [1, 2, 3]
    assert attempts[0]["error_class"] == "builtins.RuntimeError"
    assert "it broke" in attempts[0]["traceback"]
    kinds = [event["kind"] for event in body["events"]]
    assert kinds[:3] == ["started", "retrying", "started"]
    assert kinds[-1] == "failed"


def test_a_user_sees_only_the_tasks_they_enqueued(
    make_user: Callable, client_for: Callable
) -> None:
    owner, other = make_user(), make_user()
    mine = owned(tasks.add.enqueue(1, 2).id, owner).pk
    tasks.add.enqueue(3, 4)  # from code: nobody's
    staff_ids = ids(client_for(make_user(staff=True)).get(f"{API}/tasks/"))
    assert len(staff_ids) == 2
    assert ids(client_for(owner).get(f"{API}/tasks/")) == [str(mine)]
    assert client_for(owner).get(f"{API}/tasks/{mine}/").status_code == 200
    assert ids(client_for(other).get(f"{API}/tasks/")) == []
    assert client_for(other).get(f"{API}/tasks/{mine}/").status_code == 404


def test_payload_hidden_without_view_payload(make_user: Callable, client_for: Callable) -> None:
    owner = make_user()
    task_id = owned(tasks.fail_once.enqueue().id, owner).pk
    echo_id = owned(tasks.echo.enqueue({"card": "4242"}).id, owner).pk
    run_tasks()
    hidden = client_for(owner).get(f"{API}/tasks/{echo_id}/").json()
    assert hidden["payload_visible"] is False
    assert hidden["args"] is None and hidden["result"] is None
    assert "4242" not in str(hidden)
    failed = client_for(owner).get(f"{API}/tasks/{task_id}/").json()
    attempt = failed["attempt_history"][0]
    assert attempt["error_class"] == "builtins.ValueError"
    assert attempt["traceback"] is None and attempt["error_message"] is None
    assert all("error_message" not in event["data"] for event in failed["events"])
    granted = make_user("view_payload")
    owned(echo_id, granted)
    shown = client_for(granted).get(f"{API}/tasks/{echo_id}/").json()
    assert shown["args"] == [{"card": "4242"}]
    assert shown["result"] == {"card": "4242"}


def test_anonymous_refused_even_when_drf_allows_any(client_for: Callable, settings) -> None:
    settings.REST_FRAMEWORK = {
        "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.AllowAny"]
    }
    task_id = tasks.add.enqueue(1, 2).id
    anonymous = client_for(None)
    assert anonymous.get(f"{API}/tasks/").status_code == 403
    assert anonymous.get(f"{API}/tasks/{task_id}/").status_code == 403
    assert anonymous.post(f"{API}/tasks/{task_id}/cancel/").status_code == 403
    assert models.Task.objects.get(pk=task_id).status == "queued"


def test_an_inactive_user_is_refused(make_user: Callable, client_for: Callable) -> None:
    user = make_user(staff=True)
    client = client_for(user)
    user.is_active = False
    user.save()
    assert client.get(f"{API}/tasks/").status_code == 403


def test_the_browsable_page_escapes_payload(make_user: Callable, client_for: Callable) -> None:
    task_id = tasks.echo.enqueue("<script>alert(1)</script>").id
    client = client_for(make_user("view_payload", staff=True))
    page = client.get(f"{API}/tasks/{task_id}/", HTTP_ACCEPT="text/html")
    assert page.status_code == 200
    assert b"<script>alert(1)</script>" not in page.content
    assert b"&lt;script&gt;alert(1)&lt;/script&gt;" in page.content
    assert client.get(f"{API}/tasks/", HTTP_ACCEPT="text/html").status_code == 200


def test_a_page_reads_a_fixed_number_of_queries(make_user: Callable, client_for: Callable) -> None:
    owner = make_user()
    for result in tasks.add.enqueue_many([(n, n) for n in range(30)]):
        owned(result.id, owner)
    client = client_for(owner)
    with CaptureQueriesContext(connection) as few:
        client.get(f"{API}/tasks/?page_size=2")
    with CaptureQueriesContext(connection) as many:
        client.get(f"{API}/tasks/?page_size=30")
    assert len(many.captured_queries) == len(few.captured_queries)
