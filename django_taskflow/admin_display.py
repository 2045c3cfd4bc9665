"""What the admin pages show of a task: precise times, JSON, attempts, progress.

Shared by the task admin (``task_admin.py``), its inlines
(``admin_inlines.py``), the operator's views and the flow admin.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from django.contrib import admin
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.translation import gettext_lazy as _

from django_taskflow import access, models, payload_display
from django_taskflow.states import Status

if TYPE_CHECKING:
    from django.utils.functional import _StrOrPromise


def format_time(value: datetime | None) -> str:
    """A time to the millisecond, in the current time zone: ``2026-05-04 12:04:31.207``.

    Django's default shows times to the minute, which cannot tell apart the
    steps of a task that ran for a second.
    """
    if value is None:
        return ""
    return timezone.localtime(value).isoformat(sep=" ", timespec="milliseconds")[:23]


def precise_time(field: str, description: _StrOrPromise) -> Callable[[Any, Any], str]:
    """An admin column or read-only field showing ``field`` with :func:`format_time`."""

    @admin.display(description=description, ordering=field)
    def show(model_admin: Any, obj: Any) -> str:
        return format_time(getattr(obj, field))

    return show


# Status colours: readable on the admin's light and dark themes.
STATUS_COLOURS = {
    Status.QUEUED: "#6c757d",
    Status.RUNNING: "#0d6efd",
    Status.SUCCEEDED: "#198754",
    Status.FAILED: "#dc3545",
    Status.CANCELLED: "#b58900",
}

# Never read for the list: they can be large, and the list shows none of them.
LIST_DEFERRED = (
    "args",
    "kwargs",
    "result",
    "progress_detail",
    "retry_policy",
    "requires",
    "cancel_reason",
)


def pretty_json(value: Any) -> SafeString:
    """``value`` as indented JSON in a ``<pre>`` block, escaped."""
    text = json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True, default=str)
    return format_html('<pre style="white-space: pre-wrap; margin: 0">{}</pre>', text)


def shown_payload(task: models.Task) -> dict[str, Any]:
    """The task's payload fields as this viewer may see them (decoded, or redacted)."""
    if task.encoding is None:
        return {name: getattr(task, name) for name in access.PAYLOAD_FIELDS}
    reveal = bool(getattr(task, "reveal_encrypted", False))
    return payload_display.task_payload(task, reveal=reveal)


def attempts_summary(task: models.Task) -> str:
    """``2/3`` (attempts used of the limit), plus ``(+1 lost)`` for those that did not count.

    Attempts lost with their worker or interrupted by a forced stop are the
    worker's failure, not the task's: they do not use up ``max_attempts``.
    """
    text = f"{task.counted_attempts}/{task.max_attempts}"
    return f"{text} (+{task.lost_attempts} {_('lost')})" if task.lost_attempts else text


def current_progress(task: models.Task) -> float | None:
    """The progress of the task's current (or last) attempt; None if it reported none.

    A queued task has no attempt running, and an attempt that has not
    reported yet must not show what an earlier one reported: the stored
    value is kept across attempts, so it is checked against the attempt
    number of the last progress event (annotated by ``get_queryset``).
    """
    if task.progress is None or task.status == Status.QUEUED:
        return None
    reported_in = getattr(task, "progress_attempt", task.attempts)
    return task.progress if reported_in == task.attempts else None


def policy_without_duplicates(task: models.Task) -> dict[str, Any]:
    """The stored retry policy, minus ``max_attempts`` when the task's own field says it.

    The policy keeps ``max_attempts: null`` when the limit came from the
    task's options; shown beside the real limit, it reads as "unlimited".
    """
    policy = dict(task.retry_policy or {})
    if policy.get("max_attempts") in (None, task.max_attempts):
        policy.pop("max_attempts", None)
    return policy


def task_link(task_id: Any, label: Any = None) -> SafeString:
    """A link to a task's admin page, showing ``label`` (default: the task's id)."""
    url = reverse("admin:django_taskflow_task_change", args=[task_id])
    return format_html('<a href="{}">{}</a>', url, task_id if label is None else label)


class ReadOnlyMixin:
    """History is read-only: nothing is added, changed or deleted through these pages."""

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
