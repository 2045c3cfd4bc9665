"""Encrypted tasks in the API and the admin: redacted unless the viewer holds view_encrypted_payload."""

from __future__ import annotations

import base64
import copy
import json
from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse

from django_taskflow.testing import run_tasks
from tests import encrypted_tasks
from tests.api.conftest import API
from tests.encrypted_tasks import Patient

pytestmark = pytest.mark.django_db

SECRETS = ("Ada Secretperson", "rare-condition-xyz", "ward-7-north", "leaky-secret-42")
KEY = {"id": "k1", "key": base64.b64encode(b"1" * 32).decode()}


@pytest.fixture
def encrypted(settings: Any) -> tuple[str, str]:
    tasks_setting = copy.deepcopy(settings.TASKS)
    tasks_setting["default"]["OPTIONS"]["ENCRYPTION_KEYS"] = [KEY]
    settings.TASKS = tasks_setting
    treated = encrypted_tasks.treat.enqueue(Patient(SECRETS[0], SECRETS[1]), ward=SECRETS[2])
    failed = encrypted_tasks.leaky.enqueue(SECRETS[3])
    run_tasks()
    return treated.id, failed.id


def api_text(client: Any, task_id: str) -> str:
    response = client.get(f"{API}/tasks/{task_id}/")
    assert response.status_code == 200
    return json.dumps(response.json())


def test_the_api_redacts_encrypted_payloads_without_the_permission(
    make_user: Callable[..., User], client_for: Callable[..., Any], encrypted: tuple[str, str]
) -> None:
    client = client_for(make_user("view_payload", staff=True))

    for task_id in encrypted:
        text = api_text(client, task_id)
        assert "[encrypted]" in text
        assert "taskflow-sealed" not in text
        for secret in SECRETS:
            assert secret not in text
    failed = client.get(f"{API}/tasks/{encrypted[1]}/").json()
    assert failed["attempt_history"][0]["error_message"] == "[encrypted]"
    assert failed["attempt_history"][0]["error_class"] == "builtins.ValueError"


def test_the_api_decrypts_for_a_viewer_with_the_permission(
    make_user: Callable[..., User], client_for: Callable[..., Any], encrypted: tuple[str, str]
) -> None:
    client = client_for(make_user("view_payload", "view_encrypted_payload", staff=True))

    treated = client.get(f"{API}/tasks/{encrypted[0]}/").json()
    assert treated["args"] == [{"name": SECRETS[0], "diagnosis": SECRETS[1]}]
    assert treated["kwargs"] == {"ward": SECRETS[2]}
    assert treated["result"] == f"treated {SECRETS[0]} ({SECRETS[1]}) in {SECRETS[2]}"
    failed = client.get(f"{API}/tasks/{encrypted[1]}/").json()
    assert failed["attempt_history"][0]["error_message"] == f"failed on {SECRETS[3]}"
    progress = [event for event in failed["events"] if event["kind"] == "progress"]
    assert progress[0]["data"]["detail"] == {"note": f"working on {SECRETS[3]}"}


def test_the_admin_redacts_encrypted_payloads_without_the_permission(
    make_user: Callable[..., User], encrypted: tuple[str, str]
) -> None:
    staff = make_user("view_task", "view_attempt", "view_event", staff=True)
    client = Client()
    client.force_login(staff)

    for task_id in encrypted:
        page = client.get(reverse("admin:django_taskflow_task_change", args=[task_id]))
        assert page.status_code == 200
        text = page.content.decode()
        assert "[encrypted]" in text
        assert "taskflow-sealed" not in text
        for secret in SECRETS:
            assert secret not in text
    failed = client.get(reverse("admin:django_taskflow_task_change", args=[encrypted[1]]))
    assert "builtins.ValueError" in failed.content.decode()  # the attempts are shown


def test_the_admin_decrypts_for_a_viewer_with_the_permission(
    make_user: Callable[..., User], encrypted: tuple[str, str]
) -> None:
    staff = make_user(
        "view_task", "view_attempt", "view_event", "view_encrypted_payload", staff=True
    )
    client = Client()
    client.force_login(staff)

    treated = client.get(reverse("admin:django_taskflow_task_change", args=[encrypted[0]]))
    assert SECRETS[0] in treated.content.decode()
    failed = client.get(reverse("admin:django_taskflow_task_change", args=[encrypted[1]]))
    text = failed.content.decode()
    assert f"failed on {SECRETS[3]}" in text
    assert f"working on {SECRETS[3]}" in text


@pytest.mark.parametrize("reveal", [False, True])
def test_an_encrypted_progress_message_is_shown_to_a_viewer_with_the_permission_only(
    make_user: Callable[..., User],
    client_for: Callable[..., Any],
    encrypted: tuple[str, str],
    reveal: bool,
) -> None:
    confided = encrypted_tasks.confide.enqueue(SECRETS[3])
    run_tasks()
    codenames = ("view_payload", "view_encrypted_payload") if reveal else ("view_payload",)
    client = client_for(make_user(*codenames, staff=True))

    events = client.get(f"{API}/tasks/{confided.id}/").json()["events"]

    progress = [event["data"] for event in events if event["kind"] == "progress"]
    if reveal:
        assert progress[0]["message"] == f"reading {SECRETS[3]}"
        assert progress[0]["detail"] == {"step": SECRETS[3]}
    else:
        assert progress[0]["message"] == "[encrypted]"
        assert progress[0]["detail"] == "[encrypted]"
