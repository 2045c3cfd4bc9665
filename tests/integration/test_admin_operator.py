"""The dead-letter and stuck-task pages: retry, retry with edited arguments, discard, recover."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.auth.models import Permission, User
from django.contrib.messages import get_messages
from django.test import Client
from django.urls import reverse

from django_taskflow import models
from django_taskflow.db import LeaseUntil
from django_taskflow.models import EventKind
from django_taskflow.testing import run_tasks
from tests import tasks
from tests.conftest import claim_for, heartbeat_worker

pytestmark = pytest.mark.django_db

DEAD_LETTERS = "admin:django_taskflow_deadletter_changelist"
STUCK = "admin:django_taskflow_stucktask_changelist"


@pytest.fixture
def staff_with() -> Callable[..., Client]:
    def make(*codenames: str) -> Client:
        user = User.objects.create_user(f"op{User.objects.count()}", is_staff=True)
        wanted = ("view_task", *codenames)
        user.user_permissions.add(*Permission.objects.filter(codename__in=wanted))
        client = Client()
        client.force_login(user)
        return client

    return make


def failed_add(*args: int) -> str:
    """A failed ``add`` task (as if its attempts ran out)."""
    task_id = tasks.add.enqueue(*args).id
    models.Task.objects.filter(pk=task_id).update(status="failed", attempts=1)
    return task_id


def act(client: Client, url: str, action: str, ids: list[str]) -> list[str]:
    response = client.post(reverse(url), {"action": action, "_selected_action": ids, "index": "0"})
    assert response.status_code in (200, 302)
    return [str(message) for message in get_messages(response.wsgi_request)]


def test_dead_letters_list_failed_tasks_only_with_their_last_error(
    staff_with: Callable[..., Client],
) -> None:
    dead = tasks.fail_always.enqueue("out of paper").id
    tasks.add.enqueue(1, 2)
    run_tasks()
    response = staff_with().get(reverse(DEAD_LETTERS))
    assert response.status_code == 200
    shown = [str(task.pk) for task in response.context["cl"].result_list]
    assert shown == [dead]
    assert "out of paper" in response.content.decode()
    found = staff_with().get(reverse(DEAD_LETTERS) + "?q=tests.tasks.fail_")
    assert [str(task.pk) for task in found.context["cl"].result_list] == [dead]
    assert not staff_with().get(reverse(DEAD_LETTERS) + "?q=fail_always").context["cl"].result_list


def test_dead_letters_need_view_task(staff_with: Callable[..., Client]) -> None:
    client = Client()
    client.force_login(User.objects.create_user("nobody", is_staff=True))
    assert client.get(reverse(DEAD_LETTERS)).status_code == 403


def test_dead_letter_retry_with_the_same_arguments(staff_with: Callable[..., Client]) -> None:
    dead = failed_add(2, 3)
    messages = act(staff_with("retry_task"), DEAD_LETTERS, "retry_tasks", [dead])
    assert messages == ["1 task queued to run now."]
    run_tasks()
    task = models.Task.objects.get(pk=dead)
    assert (task.status, task.result, task.attempts) == ("succeeded", 5, 2)


def retry_url(task_id: str) -> str:
    return reverse("admin:django_taskflow_deadletter_retry", args=[task_id])


def test_retry_with_edited_arguments_makes_a_new_task_linked_to_the_original(
    staff_with: Callable[..., Client],
) -> None:
    dead = failed_add(2, 3)
    client = staff_with("retry_task")
    form = client.get(retry_url(dead))
    assert form.status_code == 200
    assert form.context["form"].initial == {"args": [2, 3], "kwargs": {}}
    response = client.post(retry_url(dead), {"args": "[10, 20]", "kwargs": "{}"})
    assert response.status_code == 302, response.context["form"].errors
    copy = models.Task.objects.get(original=dead)
    assert response["Location"] == reverse("admin:django_taskflow_task_change", args=[copy.pk])
    assert copy.event_set.get(kind=EventKind.REQUEUED).data == {"by": "op0"}
    assert models.Task.objects.get(pk=dead).status == "failed"  # the original stays
    run_tasks()
    copy.refresh_from_db()
    assert copy.result == 30


@pytest.mark.parametrize(
    ("args", "kwargs", "error"),
    [
        ("[1]", "{}", "missing a required argument: &#x27;b&#x27;"),
        ("[1, 2]", '{"c": 3}', "unexpected keyword argument &#x27;c&#x27;"),
        ('["x", 2]', "{}", "add() argument &#x27;a&#x27; is str &#x27;x&#x27;, expected int"),
        ('{"a": 1}', "{}", "Give a JSON list"),
        ("[1, 2", "{}", "Enter a valid JSON"),
    ],
)
def test_retry_with_edited_arguments_shows_a_validation_error_and_writes_nothing(
    staff_with: Callable[..., Client], args: str, kwargs: str, error: str
) -> None:
    dead = failed_add(2, 3)
    response = staff_with("retry_task").post(retry_url(dead), {"args": args, "kwargs": kwargs})
    assert response.status_code == 200
    assert error in response.content.decode()
    assert models.Task.objects.count() == 1


def test_retry_with_edited_arguments_needs_retry_task(staff_with: Callable[..., Client]) -> None:
    dead = failed_add(2, 3)
    client = staff_with("requeue_task")
    assert client.get(retry_url(dead)).status_code == 403
    assert client.post(retry_url(dead), {"args": "[1, 1]", "kwargs": "{}"}).status_code == 403
    assert models.Task.objects.count() == 1


def test_discard_deletes_failed_tasks_with_permission_only(
    staff_with: Callable[..., Client],
) -> None:
    dead = tasks.fail_once.enqueue().id
    run_tasks()
    assert act(staff_with("retry_task"), DEAD_LETTERS, "discard_tasks", [dead]) == [
        "No action selected."
    ]
    assert models.Task.objects.filter(pk=dead).exists()
    assert act(staff_with("delete_task"), DEAD_LETTERS, "discard_tasks", [dead]) == [
        "1 task discarded."
    ]
    assert not models.Task.objects.filter(pk=dead).exists()
    assert not models.Attempt.objects.filter(task_id=dead).exists()
    assert not models.Event.objects.filter(task_id=dead).exists()


def make_stuck(seconds_ago: float) -> str:
    task_id = tasks.add.enqueue(1, 2).id
    claim_for("gone-host:1:slot:1")
    models.Task.objects.filter(pk=task_id).update(lease_expires_at=LeaseUntil(-seconds_ago))
    return task_id


def test_stuck_tasks_are_running_with_a_lease_long_expired(
    staff_with: Callable[..., Client],
) -> None:
    stuck = make_stuck(3600)
    make_stuck(5)  # expired only just: the workers' own recovery handles it
    response = staff_with().get(reverse(STUCK))
    assert [str(task.pk) for task in response.context["cl"].result_list] == [stuck]


def test_recover_now_requeues_a_stuck_task_as_a_lost_attempt(
    staff_with: Callable[..., Client],
) -> None:
    stuck = make_stuck(3600)
    fresh = make_stuck(5)
    assert act(staff_with("retry_task"), STUCK, "recover_tasks", [stuck]) == ["1 task recovered."]
    task = models.Task.objects.get(pk=stuck)
    assert (task.status, task.worker_id, task.lost_attempts) == ("queued", None, 1)
    assert task.attempt_set.get().outcome == "lost"
    assert models.Task.objects.get(pk=fresh).status == "running"


def test_recover_now_needs_retry_task(staff_with: Callable[..., Client]) -> None:
    stuck = make_stuck(3600)
    # The page offers no action at all to this user: the POST only lists.
    assert act(staff_with("cancel_task"), STUCK, "recover_tasks", [stuck]) == []
    assert models.Task.objects.get(pk=stuck).status == "running"


def test_the_howto_examples_give_an_oncall_group_its_permissions_and_retry() -> None:
    from testproject.docs_examples import operating

    group = operating.make_oncall_group()
    user = User.objects.create_user("oncall", is_staff=True)
    user.groups.add(group)
    assert user.has_perm("django_taskflow.retry_task")
    assert not user.has_perm("django_taskflow.requeue_task")
    for _ in range(3):
        tasks.fail_once.enqueue()
    obsolete = tasks.fail_once.using(tags=["obsolete"]).enqueue().id
    run_tasks()
    assert operating.discard_obsolete(user) == 1
    assert not models.Task.objects.filter(pk=obsolete).exists()
    assert operating.retry_failed_syncs(user) == (3, {})
    assert models.Event.objects.filter(kind=EventKind.RETRIED, data__by="oncall").count() == 3


def test_a_task_whose_worker_still_heartbeats_is_not_stuck(
    staff_with: Callable[..., Client],
) -> None:
    held = make_stuck(3600)
    orphan_id = make_stuck(3600)
    models.Task.objects.filter(pk=held).update(worker_id=heartbeat_worker("busy-host"))
    response = staff_with().get(reverse(STUCK))
    assert [str(task.pk) for task in response.context["cl"].result_list] == [orphan_id]


def test_an_encrypted_dead_letter_is_edited_decrypted_only_by_a_holder_of_the_permission(
    staff_with: Callable[..., Client], settings: Any
) -> None:
    from tests import encrypted_tasks
    from tests.integration.test_encryption import KEY_1, use_keys

    use_keys(settings, KEY_1)
    failed = encrypted_tasks.leaky.enqueue("edit-me-secret")
    run_tasks()

    assert staff_with("retry_task").get(retry_url(failed.id)).status_code == 403
    client = staff_with("retry_task", "view_encrypted_payload")
    form = client.get(retry_url(failed.id))
    assert form.context["form"].initial == {"args": ["edit-me-secret"], "kwargs": {}}
    response = client.post(retry_url(failed.id), {"args": '["edited"]', "kwargs": "{}"})
    assert response.status_code == 302, response.context["form"].errors
    copy = models.Task.objects.get(original=failed.id)
    assert "edited" not in json.dumps(copy.args)  # sealed for the copy, as any enqueue
