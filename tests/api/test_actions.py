"""Cancel, requeue and retry through the API: the admin's permissions and rules."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from django_taskflow import models
from django_taskflow.testing import run_tasks
from tests import tasks
from tests.api.conftest import API, owned

pytestmark = pytest.mark.django_db


def failed_task() -> str:
    task_id = tasks.fail_once.enqueue().id
    run_tasks()
    return task_id


def test_cancel_needs_cancel_task(make_user: Callable, client_for: Callable) -> None:
    task_id = tasks.add.enqueue(1, 2).id
    denied = client_for(make_user(staff=True)).post(f"{API}/tasks/{task_id}/cancel/")
    assert denied.status_code == 403
    assert models.Task.objects.get(pk=task_id).status == "queued"
    operator = make_user("cancel_task", staff=True)
    response = client_for(operator).post(
        f"{API}/tasks/{task_id}/cancel/", {"reason": "not needed"}, format="json"
    )
    assert response.status_code == 200
    assert response.json()["status"] == "cancelled"
    task = models.Task.objects.get(pk=task_id)
    assert (task.status, task.cancelled_by, task.cancel_reason) == (
        "cancelled",
        operator.username,
        "not needed",
    )


def test_cancelling_a_finished_task_is_a_conflict(
    make_user: Callable, client_for: Callable
) -> None:
    task_id = failed_task()
    response = client_for(make_user("cancel_task", staff=True)).post(
        f"{API}/tasks/{task_id}/cancel/"
    )
    assert response.status_code == 409
    assert "finished" in response.json()["detail"]
    assert models.Task.objects.get(pk=task_id).status == "failed"


def test_requeue_needs_requeue_task(make_user: Callable, client_for: Callable) -> None:
    task_id = failed_task()
    assert (
        client_for(make_user(staff=True)).post(f"{API}/tasks/{task_id}/requeue/").status_code == 403
    )
    assert models.Task.objects.count() == 1
    response = client_for(make_user("requeue_task", staff=True)).post(
        f"{API}/tasks/{task_id}/requeue/"
    )
    assert response.status_code == 200
    copy = models.Task.objects.get(pk=response.json()["new_task"])
    assert (copy.status, str(copy.original)) == ("queued", task_id)


def test_requeueing_a_queued_task_is_a_conflict(make_user: Callable, client_for: Callable) -> None:
    task_id = tasks.add.enqueue(1, 2).id
    response = client_for(make_user("requeue_task", staff=True)).post(
        f"{API}/tasks/{task_id}/requeue/"
    )
    assert response.status_code == 409
    assert "still queued or running" in response.json()["detail"]


def test_retry_needs_retry_task(make_user: Callable, client_for: Callable) -> None:
    task_id = failed_task()
    assert (
        client_for(make_user(staff=True)).post(f"{API}/tasks/{task_id}/retry/").status_code == 403
    )
    assert models.Task.objects.get(pk=task_id).status == "failed"
    response = client_for(make_user("retry_task", staff=True)).post(f"{API}/tasks/{task_id}/retry/")
    assert response.status_code == 200
    assert response.json()["status"] == "queued"
    assert models.Task.objects.get(pk=task_id).status == "queued"


def test_owners_act_on_their_own_tasks_only(make_user: Callable, client_for: Callable) -> None:
    owner = make_user("cancel_task", "requeue_task", "retry_task")
    stranger = make_user("cancel_task", "requeue_task", "retry_task")
    mine = owned(failed_task(), owner).pk
    for action in ("cancel", "requeue", "retry"):
        assert client_for(stranger).post(f"{API}/tasks/{mine}/{action}/").status_code == 404
    assert models.Task.objects.count() == 1
    requeued = client_for(owner).post(f"{API}/tasks/{mine}/requeue/")
    assert requeued.status_code == 200
    # The copy stays the owner's task, so they can follow it.
    new_task = requeued.json()["new_task"]
    assert client_for(owner).get(f"{API}/tasks/{new_task}/").status_code == 200
    assert client_for(owner).post(f"{API}/tasks/{mine}/retry/").status_code == 200


def test_unknown_ids_are_404(make_user: Callable, client_for: Callable) -> None:
    client = client_for(make_user("cancel_task", staff=True))
    assert (
        client.post(f"{API}/tasks/01234567-89ab-7def-8123-456789abcdef/cancel/").status_code == 404
    )
    assert client.get(f"{API}/tasks/not-a-uuid/").status_code == 404
