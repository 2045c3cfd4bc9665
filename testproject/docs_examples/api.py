"""Examples quoted by docs/howto/api.md (run by tests/api/test_doc_examples.py)."""

from __future__ import annotations

import base64
import json
import urllib.request
from typing import Any

from django_taskflow import task


@task(api=True, queue_name="reports")
def send_report(year: int, title: str = "Annual", *, recipients: list[str] | None = None) -> str:
    return f"{title} {year} sent to {len(recipients or [])} recipients"


def call_api(base_url: str, path: str, user: str, password: str, body: Any = None) -> Any:
    """GET ``path``, or POST ``body`` as JSON, with HTTP Basic authentication."""
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    request = urllib.request.Request(  # noqa: S310  # the caller's own http(s) base URL
        base_url + path,
        data=None if body is None else json.dumps(body).encode(),
        headers={"Authorization": f"Basic {token}", "Content-Type": "application/json"},
        method="GET" if body is None else "POST",
    )
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
        return json.load(response)


def start_report(base_url: str, user: str, password: str) -> str:
    enqueued = call_api(
        base_url,
        "/taskflow/api/tasks/",
        user,
        password,
        {"task": "send_report", "args": [2026], "kwargs": {"recipients": ["cfo@example.com"]}},
    )
    return str(enqueued["id"])  # 201 Created: {"id": ..., "status": "queued", ...}


def report_status(base_url: str, user: str, password: str, task_id: str) -> str:
    return str(call_api(base_url, f"/taskflow/api/tasks/{task_id}/", user, password)["status"])


def every_failed_report(base_url: str, user: str, password: str) -> list[str]:
    found: list[str] = []
    path: str | None = "/taskflow/api/tasks/?name=send_report&status=failed&page_size=100"
    while path:
        page = call_api(base_url, path, user, password)
        found += [row["id"] for row in page["results"]]
        path = page["next"] and page["next"].removeprefix(base_url)  # a cursor, no counting
    return found
