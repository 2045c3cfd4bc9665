"""Middleware: the example of docs/howto/middleware.md.

Configured in settings (outermost first)::

    "MIDDLEWARE": [
        "django_taskflow.contrib.middleware.LoggingMiddleware",
        "testproject.docs_examples.middleware.translate_network_errors",
    ]

and added at start-up with ``use(correlation_id, FeedCache())``.
"""

from __future__ import annotations

import urllib.error
from collections.abc import Callable
from typing import Any

from django.tasks import Task

from django_taskflow import RetryPolicy, TaskContext, task

FEEDS: dict[str, list[str]] = {}  # stands in for the web: url -> titles


def read_feed(url: str) -> list[str]:
    """Stand-in for an HTTP client; an unknown url fails like an unreachable host."""
    if url not in FEEDS:
        raise urllib.error.URLError("host unreachable")
    return FEEDS[url]


@task(takes_context=True, max_attempts=3, retry=RetryPolicy.fixed(0), retry_on=(ConnectionError,))
def fetch_feed(context: TaskContext, url: str) -> list[str]:
    """Only ConnectionError is retried: the middleware below turns URLError into one."""
    request_id = context.extra.get("correlation_id", "-")
    return [f"[{request_id}] {title}" for title in read_feed(url)]


def translate_network_errors(task: Task, context: TaskContext, call_next: Callable[[], Any]) -> Any:
    """Transform an error: urllib's URLError becomes the ConnectionError that retry_on names."""
    try:
        return call_next()
    except urllib.error.URLError as exc:
        raise ConnectionError(f"{task.name}: {exc.reason}") from exc


def correlation_id(task: Task, context: TaskContext, call_next: Callable[[], Any]) -> Any:
    """Enrich the context: an id for this attempt, for the task's logs and outgoing requests."""
    context.extra["correlation_id"] = f"{context.task_id[:8]}-{context.attempt}"
    return call_next()


class FeedCache:
    """Short-circuit: serve fetch_feed from a cache, without running it, when it can."""

    def __init__(self) -> None:
        self.cache: dict[str, list[str]] = {}

    def __call__(self, task: Task, context: TaskContext, call_next: Callable[[], Any]) -> Any:
        if task.module_path != fetch_feed.module_path:
            return call_next()
        url = context.task_result.args[0]
        if url not in self.cache:
            self.cache[url] = call_next()
        return self.cache[url]
