"""The OpenAPI schema validates and lists this API alone; the docs page; the optional extra."""

from __future__ import annotations

from collections.abc import Callable
from io import StringIO
from pathlib import Path

import pytest
import yaml
from django.core.management import call_command
from drf_spectacular.validation import validate_schema

from tests.api.conftest import API

pytestmark = pytest.mark.django_db

ENDPOINTS = {
    "/taskflow/api/tasks/",
    "/taskflow/api/tasks/{id}/",
    "/taskflow/api/tasks/{id}/cancel/",
    "/taskflow/api/tasks/{id}/requeue/",
    "/taskflow/api/tasks/{id}/retry/",
    "/taskflow/api/schedules/",
    "/taskflow/api/schedules/{id}/",
    "/taskflow/api/flows/",
    "/taskflow/api/flows/{id}/",
    "/taskflow/api/services/",
    "/taskflow/api/services/{name}/",
    "/taskflow/api/services/{name}/stop/",
    "/taskflow/api/services/{name}/restart/",
    "/taskflow/api/workers/",
    "/taskflow/api/stats/",
}


def test_the_served_schema_validates(make_user: Callable, client_for: Callable) -> None:
    response = client_for(make_user()).get(f"{API}/schema/?format=json")
    assert response.status_code == 200
    document = response.json()
    validate_schema(document)
    assert set(document["paths"]) == ENDPOINTS
    assert document["info"]["title"] == "django_taskflow API"
    enqueue = document["paths"]["/taskflow/api/tasks/"]["post"]
    assert set(enqueue["responses"]) >= {"200", "201"}


def test_the_schema_command_validates_without_warnings(tmp_path: Path) -> None:
    out = tmp_path / "schema.yml"
    call_command(
        "spectacular",
        "--generator-class",
        "django_taskflow.api.schema.TaskflowSchemaGenerator",
        "--validate",
        "--fail-on-warn",
        "--file",
        str(out),
        stderr=StringIO(),
    )
    assert set(yaml.safe_load(out.read_text())["paths"]) == ENDPOINTS


def test_schema_and_docs_need_a_signed_in_user(make_user: Callable, client_for: Callable) -> None:
    assert client_for(None).get(f"{API}/schema/").status_code == 403
    assert client_for(None).get(f"{API}/docs/").status_code == 403
    page = client_for(make_user()).get(f"{API}/docs/")
    assert page.status_code == 200
    assert b"/taskflow/api/schema/" in page.content
