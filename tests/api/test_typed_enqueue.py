"""Enqueue by name of a task with typed parameters: JSON in, the typed value in the task."""

from __future__ import annotations

import datetime
from collections.abc import Callable
from typing import Any

import pytest

from django_taskflow import models
from django_taskflow.testing import run_tasks
from tests.api import tasks as api_tasks
from tests.api.conftest import API

pytestmark = pytest.mark.django_db


def test_a_typed_parameter_takes_its_json_form(make_user: Callable, client_for: Callable) -> None:
    client = client_for(make_user("view_payload"))
    body = {"task": "send_invoice", "args": [{"number": "7", "due_on": "2026-04-01"}]}

    response = client.post(f"{API}/tasks/", body, format="json")

    assert response.status_code == 201, response.json()
    task = models.Task.objects.get(pk=response.json()["id"])
    assert task.args == [{"number": "7", "due_on": "2026-04-01"}]
    run_tasks()
    task.refresh_from_db()
    assert (task.status, task.result) == ("succeeded", "2026-04-01")
    result = api_tasks.send_invoice.get_result(str(task.pk))
    assert result.return_value == datetime.date(2026, 4, 1)


@pytest.mark.parametrize(
    ("invoice", "message"),
    [
        (
            {"number": "7", "due_on": "soon"},
            "send_invoice() argument 'invoice'['due_on'] is str 'soon', which cannot be read "
            "as date (Invalid isoformat string: 'soon')",
        ),
        ({"number": "7"}, "is missing the field 'due_on' of Invoice"),
        ({"number": 7, "due_on": "2026-04-01"}, "['number'] is int 7, expected str"),
    ],
)
def test_a_typed_parameter_of_the_wrong_shape_is_a_400_beside_its_position(
    make_user: Callable, client_for: Callable, invoice: dict[str, object], message: str
) -> None:
    client = client_for(make_user())

    response = client.post(
        f"{API}/tasks/", {"task": "send_invoice", "args": [invoice]}, format="json"
    )

    assert response.status_code == 400
    assert list(response.json()) == ["args"]
    assert message in response.json()["args"]["0"][0]
    assert not models.Task.objects.exists()


def post_remind(client: Any, **kwargs: object) -> Any:
    body = {"task": "remind", "args": [{"number": "7", "due_on": "2026-04-01"}], "kwargs": kwargs}
    return client.post(f"{API}/tasks/", body, format="json")


def test_an_unreadable_typed_keyword_argument_is_a_400_beside_its_name(
    make_user: Callable, client_for: Callable
) -> None:
    response = post_remind(client_for(make_user()), when="next tuesday", amount="lots")

    assert response.status_code == 400
    assert response.json() == {
        "kwargs": {
            "when": [
                "remind() argument 'when' is str 'next tuesday', which cannot be read as "
                "datetime (Invalid isoformat string: 'next tuesday')"
            ],
            "amount": [
                "remind() argument 'amount' is str 'lots', which cannot be read as Decimal "
                "(not a decimal number)"
            ],
        }
    }
    assert not models.Task.objects.exists()


def test_a_decimal_given_as_a_json_number_is_read_from_its_text(
    make_user: Callable, client_for: Callable
) -> None:
    client = client_for(make_user())

    response = post_remind(client, when="2026-04-01T09:00:00+00:00", amount=0.1)

    assert response.status_code == 201, response.json()
    run_tasks()
    task = models.Task.objects.get(pk=response.json()["id"])
    assert task.result == "7 at 2026-04-01T09:00:00+00:00 (0.1)"
