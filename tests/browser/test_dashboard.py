"""The dashboard in a real browser: live progress from a real worker, and cancelling from the page."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from django_taskflow import models
from tests import tasks
from tests.browser.conftest import start_server, stop_server
from tests.conftest import WorkerProcesses, wait_for

pytestmark = [pytest.mark.browser, pytest.mark.processes]

# Generous: a loaded 2-core machine runs a browser, a server and a worker.
WAIT = 60.0


def sign_in(browser: Any, base_url: str, password: str) -> None:
    from selenium.webdriver.common.by import By

    browser.get(f"{base_url}/taskflow/")
    # Staff only: the dashboard sends a visitor to the admin's login first.
    assert "/admin/login/" in browser.current_url
    browser.find_element(By.NAME, "username").send_keys("operator")
    browser.find_element(By.NAME, "password").send_keys(password)
    browser.find_element(By.CSS_SELECTOR, "input[type=submit]").click()
    wait_for(lambda: browser.current_url.endswith("/taskflow/"), timeout=WAIT)
    # The page's script says "live" once the websocket is open and subscribed.
    wait_for(
        lambda: (
            browser.execute_script(
                "const badge = document.getElementById('connection');"
                "return badge && badge.dataset.state"
            )
            == "live"
        ),
        timeout=WAIT,
    )


def row_state(browser: Any, task_id: str) -> dict[str, Any] | None:
    """The row's status, bar value and message as the page shows them; None while absent."""
    state: dict[str, Any] | None = browser.execute_script(
        """
        const row = document.getElementById("task-" + arguments[0]);
        if (!row) return null;
        return {status: row.querySelector(".status").textContent,
                progress: row.querySelector("progress").value,
                message: row.querySelector(".message").textContent};
        """,
        task_id,
    )
    return state


def follow_dashboard(
    browser: Any,
    tmp_path: Path,
    workers: WorkerProcesses,
    django_user_model: Any,
    env: dict[str, str],
) -> None:
    django_user_model.objects.create_superuser("operator", password="s3cret-pass")
    server = start_server(tmp_path, env)
    try:
        sign_in(browser, server.url, "s3cret-pass")
        browser.execute_script("window.sameDocument = true")
        workers.start("--concurrency", "2", extra_env=env, cancel_grace_seconds=30)

        # A task that reports progress: its row appears, its bar moves, it succeeds.
        result = tasks.progress_messages.enqueue(5, 1.0)
        seen: list[float] = []

        def finished() -> bool:
            state = row_state(browser, result.id)
            if state is not None and state["progress"] not in seen:
                seen.append(state["progress"])
            return state is not None and state["status"] == "succeeded"

        wait_for(finished, timeout=WAIT, interval=0.05)
        moving = [value for value in seen if 0 < value < 1]
        assert len(moving) >= 2, f"the bar did not move in steps: {seen}"
        assert row_state(browser, result.id)["message"] == "step 5 of 5"  # type: ignore[index]

        # A running task, cancelled from its row's button.
        long = tasks.stops_when_cancelled.enqueue(str(tmp_path / "cancel.log"))
        wait_for(
            lambda: (row_state(browser, long.id) or {}).get("status") == "running", timeout=WAIT
        )
        browser.execute_script(
            "document.querySelector('#task-' + arguments[0] + ' form.cancel button').click()",
            long.id,
        )
        wait_for(
            lambda: (row_state(browser, long.id) or {}).get("status") == "cancelled", timeout=WAIT
        )
        assert models.Task.objects.get(pk=long.id).status == "cancelled"
        # Everything above happened without loading the page again.
        assert browser.execute_script("return window.sameDocument") is True
    except BaseException:
        print(f"--- server log ---\n{server.output()}")  # noqa: T201 - shown when the test fails
        raise
    finally:
        stop_server(server)


def test_dashboard_follows_progress_and_cancels_with_the_embedded_relay(
    browser: Any, tmp_path: Path, workers: WorkerProcesses, django_user_model: Any
) -> None:
    follow_dashboard(browser, tmp_path, workers, django_user_model, {})


def test_dashboard_follows_progress_and_cancels_through_redis(
    browser: Any,
    tmp_path: Path,
    workers: WorkerProcesses,
    django_user_model: Any,
    redis_channel_layer: dict[str, str],
) -> None:
    follow_dashboard(browser, tmp_path, workers, django_user_model, redis_channel_layer)
