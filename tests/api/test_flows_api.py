"""``/flows/``: staff read flows; payload only with ``view_payload``."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from django_taskflow import chain
from django_taskflow.testing import run_tasks
from tests import flow_tasks as ft
from tests.api.conftest import API

pytestmark = pytest.mark.django_db(transaction=True)


def finished_chain() -> str:
    run = chain(ft.start.s(2), ft.add_one.s()).enqueue()
    run_tasks()
    return str(run.id)


def test_staff_list_and_read_flows_with_their_steps(
    make_user: Callable, client_for: Callable
) -> None:
    flow_id = finished_chain()
    client = client_for(make_user("view_payload", staff=True))
    listing = client.get(f"{API}/flows/").json()
    assert [flow["id"] for flow in listing["results"]] == [flow_id]
    flow = client.get(f"{API}/flows/{flow_id}/").json()
    assert flow["status"] == "succeeded"
    assert [step["state"] for step in flow["steps"]] == ["succeeded", "succeeded"]
    assert flow["result"] == 3
    assert [step["result"] for step in flow["steps"]] == [2, 3]


def test_results_are_hidden_without_view_payload(make_user: Callable, client_for: Callable) -> None:
    flow_id = finished_chain()
    flow = client_for(make_user(staff=True)).get(f"{API}/flows/{flow_id}/").json()
    assert flow["result"] is None
    assert all("result" not in step for step in flow["steps"])
    assert [step["state"] for step in flow["steps"]] == ["succeeded", "succeeded"]


def test_only_staff_see_flows(make_user: Callable, client_for: Callable) -> None:
    flow_id = finished_chain()
    assert client_for(make_user()).get(f"{API}/flows/").status_code == 403
    assert client_for(make_user()).get(f"{API}/flows/{flow_id}/").status_code == 403
    assert client_for(None).get(f"{API}/flows/").status_code in (401, 403)
