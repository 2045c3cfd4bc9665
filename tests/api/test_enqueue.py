"""Enqueue by name: only api=True tasks, arguments checked, throttled, size-limited."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from django_taskflow import models
from django_taskflow.testing import run_tasks
from tests.api import tasks as api_tasks
from tests.api.conftest import API

pytestmark = pytest.mark.django_db

ENQUEUE = f"{API}/tasks/"


def post(client: Any, body: Any) -> Any:
    return client.post(ENQUEUE, body, format="json")


def test_enqueue_by_function_name(make_user: Callable, client_for: Callable) -> None:
    user = make_user("view_payload")
    response = post(client_for(user), {"task": "compile_report", "args": [2026], "kwargs": {}})
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["task"] == "tests.api.tasks.compile_report"
    assert body["status"] == "queued" and body["deduplicated"] is False
    task = models.Task.objects.get(pk=body["id"])
    assert task.enqueued_by_id == user.pk
    assert task.args == [2026]
    run_tasks()
    shown = client_for(user).get(f"{API}/tasks/{body['id']}/").json()
    assert shown["status"] == "succeeded"
    assert shown["result"] == "Annual 2026: 0 pages"


def test_enqueue_by_path_with_keywords(make_user: Callable, client_for: Callable) -> None:
    response = post(
        client_for(make_user()),
        {
            "task": "tests.api.tasks.compile_report",
            "args": [2025],
            "kwargs": {"title": "Q4", "pages": [1, 2]},
        },
    )
    assert response.status_code == 201
    task = models.Task.objects.get(pk=response.json()["id"])
    assert task.kwargs == {"title": "Q4", "pages": [1, 2]}
    assert task.tags == ["reports"]


@pytest.mark.parametrize(
    ("body", "errors"),
    [
        ({"task": "internal_only", "args": [1]}, {"task"}),
        ({"task": "tests.tasks.add", "args": [1, 2]}, {"task"}),
        ({"task": "no.such.task"}, {"task"}),
        ({"args": [1]}, {"task"}),
        ({"task": "compile_report", "args": ["2026"]}, {"args"}),
        ({"task": "compile_report", "args": [2026], "kwargs": {"pages": ["one"]}}, {"kwargs"}),
        ({"task": "compile_report", "args": []}, {"non_field_errors"}),
        (
            {"task": "compile_report", "args": [1], "kwargs": {"colour": "red"}},
            {"non_field_errors"},
        ),
        ({"task": "compile_report", "args": [1, "a\u0000b"]}, {"non_field_errors"}),
        ({"task": "compile_report", "args": {"year": 1}}, {"args"}),
        ({"task": "compile_report", "args": [1], "kwargs": [1]}, {"kwargs"}),
    ],
)
def test_bad_input_is_a_400_with_field_errors_and_stores_nothing(
    make_user: Callable, client_for: Callable, body: dict[str, Any], errors: set[str]
) -> None:
    response = post(client_for(make_user()), body)
    assert response.status_code == 400
    assert set(response.json()) == errors
    assert not models.Task.objects.exists()


def test_field_errors_name_the_argument(make_user: Callable, client_for: Callable) -> None:
    client = client_for(make_user())
    positional = post(client, {"task": "compile_report", "args": ["2026", "ok"]}).json()
    assert list(positional["args"]) == ["0"]
    assert "'year'" in positional["args"]["0"][0]
    by_name = post(client, {"task": "compile_report", "args": [1], "kwargs": {"title": 5}}).json()
    assert list(by_name["kwargs"]) == ["title"]
    refused = post(client, {"task": "internal_only", "args": [1]}).json()
    assert "api=True" in refused["task"][0]


def test_non_json_body_is_refused(make_user: Callable, client_for: Callable) -> None:
    client = client_for(make_user())
    response = client.post(ENQUEUE, "task=compile_report", content_type="text/plain")
    assert response.status_code == 415
    broken = client.post(
        ENQUEUE, '{"task": "compile_report", "args": [NaN]}', content_type="application/json"
    )
    assert broken.status_code == 400
    assert not models.Task.objects.exists()


def test_a_body_over_the_limit_is_a_413(
    make_user: Callable, client_for: Callable, settings: Any
) -> None:
    settings.TASKS = {
        "default": {
            **settings.TASKS["default"],
            "OPTIONS": {**settings.TASKS["default"]["OPTIONS"], "API_MAX_BODY_BYTES": 200},
        }
    }
    client = client_for(make_user())
    small = post(client, {"task": "compile_report", "args": [1], "kwargs": {"title": "x" * 50}})
    assert small.status_code == 201
    large = post(client, {"task": "compile_report", "args": [1], "kwargs": {"title": "x" * 500}})
    assert large.status_code == 413
    assert "API_MAX_BODY_BYTES" in large.json()["detail"]
    assert models.Task.objects.count() == 1


def test_arguments_over_max_payload_bytes_are_a_400(
    make_user: Callable, client_for: Callable, settings: Any
) -> None:
    settings.TASKS = {
        "default": {
            **settings.TASKS["default"],
            "OPTIONS": {**settings.TASKS["default"]["OPTIONS"], "MAX_PAYLOAD_BYTES": 100},
        }
    }
    response = post(
        client_for(make_user()),
        {"task": "compile_report", "args": [1], "kwargs": {"title": "x" * 200}},
    )
    assert response.status_code == 400
    assert "MAX_PAYLOAD_BYTES" in response.json()["non_field_errors"][0]
    assert not models.Task.objects.exists()


def test_enqueues_are_throttled_per_user(
    make_user: Callable, client_for: Callable, settings: Any
) -> None:
    settings.REST_FRAMEWORK = {"DEFAULT_THROTTLE_RATES": {"taskflow_enqueue": "2/minute"}}
    first, second = client_for(make_user()), client_for(make_user())
    body = {"task": "notify", "args": ["a@example.com"]}
    assert [post(first, body).status_code for _ in range(3)] == [201, 201, 429]
    assert post(second, body).status_code == 201
    assert first.get(f"{API}/tasks/").status_code == 200  # reading is not throttled
    assert models.Task.objects.count() == 3


def test_anonymous_cannot_enqueue_even_when_drf_allows_any(
    client_for: Callable, settings: Any
) -> None:
    settings.REST_FRAMEWORK = {
        "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.AllowAny"]
    }
    response = post(client_for(None), {"task": "compile_report", "args": [1]})
    assert response.status_code == 403
    assert not models.Task.objects.exists()


def test_a_project_replaces_the_permission_classes(
    make_user: Callable, client_for: Callable, settings: Any
) -> None:
    settings.TASKS = {
        "default": {
            **settings.TASKS["default"],
            "OPTIONS": {
                **settings.TASKS["default"]["OPTIONS"],
                "API_PERMISSION_CLASSES": ["rest_framework.permissions.IsAdminUser"],
            },
        }
    }
    body = {"task": "compile_report", "args": [1]}
    assert post(client_for(make_user()), body).status_code == 403
    assert post(client_for(make_user(staff=True)), body).status_code == 201


def test_a_deduplicated_enqueue_returns_the_existing_task(
    make_user: Callable, client_for: Callable
) -> None:
    existing = api_tasks.refresh_cache.enqueue("prices")  # from code: nobody's
    response = post(client_for(make_user()), {"task": "refresh_cache", "args": ["prices"]})
    assert response.status_code == 200
    assert response.json()["id"] == existing.id
    assert response.json()["deduplicated"] is True
    assert models.Task.objects.count() == 1
    assert models.Task.objects.get(pk=existing.id).enqueued_by_id is None


def test_the_size_limit_of_an_api_enqueue_applies_to_the_call_as_stored(
    make_user: Callable, client_for: Callable, settings: Any
) -> None:
    from tests import encrypted_tasks

    options = settings.TASKS["default"]["OPTIONS"]
    settings.TASKS = {
        "default": {
            **settings.TASKS["default"],
            "OPTIONS": {**options, "MAX_PAYLOAD_BYTES": 1000},
        }
    }
    client = client_for(make_user())
    # Compressed, then sealed: 5,000 bytes of JSON fit in far fewer.
    compressed = post(
        client, {"task": encrypted_tasks.archive_by_api.module_path, "args": ["y" * 5000]}
    )
    # 900 bytes of JSON, about 1,250 once sealed and in base64.
    sealed = post(client, {"task": encrypted_tasks.treat_by_api.module_path, "args": ["x" * 900]})

    assert compressed.status_code == 201
    assert sealed.status_code == 400
    assert "as stored" in sealed.json()["non_field_errors"][0]
    assert models.Task.objects.count() == 1
