"""The admin: task history with every attempt; actions go through ``operations``.

The list reads only small columns (the JSON ones are deferred), filters
through indexes and never counts the whole table. The actions live in
``admin_actions.py``, the filters in ``admin_filters.py``, the dead-letter
and stuck-task views in ``operator_admin.py``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any, cast

from django.contrib import admin
from django.db.models import QuerySet, Value
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.translation import gettext_lazy as _

from django_taskflow import access, models, payload_display, waiting
from django_taskflow.admin_actions import TaskActions
from django_taskflow.admin_changelist import TaskChangeList, last_progress_attempt
from django_taskflow.admin_filters import (
    QueueFilter,
    TagFilter,
    TaskNameFilter,
    WorkerFilter,
    search_tasks,
)
from django_taskflow.admin_paginator import EstimatedCountPaginator
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


class ReadOnlyMixin:
    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


# The admin classes are generic only in the type stubs, not at run time.
class AttemptInline(ReadOnlyMixin, admin.TabularInline):  # type: ignore[type-arg]
    model = models.Attempt
    extra = 0
    can_delete = False
    fields = readonly_fields = (
        "number",
        "outcome",
        "worker_id",
        "started",
        "finished",
        "duration_seconds",
        "error_class",
        "error_message_display",
        "error_value_display",
        "formatted_traceback",
    )

    started = precise_time("started_at", _("started at"))
    finished = precise_time("finished_at", _("finished at"))

    def get_queryset(self, request: HttpRequest) -> QuerySet[models.Attempt]:
        # Whether this viewer sees encrypted texts decrypted, carried by each row.
        reveal = payload_display.sees_encrypted(request.user)
        attempts = cast("QuerySet[models.Attempt]", super().get_queryset(request))
        return attempts.annotate(reveal_encrypted=Value(reveal))

    @admin.display(description=_("duration (s)"))
    def duration_seconds(self, attempt: models.Attempt) -> str:
        return "" if attempt.duration is None else f"{attempt.duration:.3f}"

    @admin.display(description=_("error message"))
    def error_message_display(self, attempt: models.Attempt) -> str:
        return _attempt_text(attempt, payload_display.ERROR_MESSAGE, attempt.error_message)

    @admin.display(description=_("error value"))
    def error_value_display(self, attempt: models.Attempt) -> str:
        value = attempt.error_value
        if isinstance(value, str):
            return _attempt_text(attempt, payload_display.ERROR_VALUE, value)
        return "" if value is None else json.dumps(value)

    @admin.display(description=_("traceback"))
    def formatted_traceback(self, attempt: models.Attempt) -> str:
        traceback = _attempt_text(attempt, payload_display.TRACEBACK, attempt.traceback)
        if not traceback:
            return ""
        return format_html(
            '<details><summary>{}</summary><pre style="white-space: pre-wrap">{}</pre></details>',
            _("show"),
            traceback,
        )


def _attempt_text(attempt: models.Attempt, field: str, text: str) -> str:
    reveal = bool(getattr(attempt, "reveal_encrypted", False))
    return payload_display.attempt_text(attempt.task, attempt.number, field, text, reveal=reveal)


class EventInline(ReadOnlyMixin, admin.TabularInline):  # type: ignore[type-arg]
    """The task's timeline: started, progress, retries, the end."""

    model = models.Event
    extra = 0
    can_delete = False
    fields = readonly_fields = ("created", "kind", "attempt", "data_display")
    verbose_name_plural = _("timeline")

    created = precise_time("created_at", _("created at"))

    def get_queryset(self, request: HttpRequest) -> QuerySet[models.Event]:
        reveal = payload_display.sees_encrypted(request.user)
        events = cast("QuerySet[models.Event]", super().get_queryset(request))
        return events.annotate(reveal_encrypted=Value(reveal))

    @admin.display(description=_("data"))
    def data_display(self, event: models.Event) -> str:
        reveal = bool(getattr(event, "reveal_encrypted", False))
        return json.dumps(payload_display.event_data(event, event.task, reveal=reveal))


@admin.register(models.Task)
class TaskAdmin(TaskActions, ReadOnlyMixin, admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = [
        "status_display",
        "task_path",
        "key",
        "queue_name",
        "tags_display",
        "attempts_display",
        "progress_bar",
        "enqueued",
        "started",
        "finished",
        "duration_seconds",
    ]
    list_display_links = ["task_path"]
    actions = TaskActions.ACTIONS
    list_filter = [
        "status",
        TaskNameFilter,
        QueueFilter,
        TagFilter,
        WorkerFilter,
        ("enqueued_at", admin.DateFieldListFilter),
        ("finished_at", admin.DateFieldListFilter),
    ]
    # Searched by search_tasks(): id and key exactly, the name by prefix.
    search_fields = ["task_path"]
    search_help_text = _("A task id, a key, or the start of a task's path.")
    inlines = [AttemptInline, EventInline]
    # No count of the whole table, and an estimate past 1,000 rows
    # (admin_paginator.py). No date_hierarchy either: its year and month links
    # are a SELECT DISTINCT over every row; the date filters cover the ranges.
    show_full_result_count = False
    paginator = EstimatedCountPaginator
    fieldsets = [
        (
            None,
            {
                "fields": [
                    "id",
                    "task_path",
                    "status",
                    "queue_name",
                    "priority",
                    "key",
                    "unique_key",
                    "tags",
                    "backend",
                    "requires_display",
                    "waiting_for",
                    "original_link",
                    "schedule_link",
                    "flow_link",
                ]
            },
        ),
        (_("Call"), {"fields": ["args_display", "kwargs_display", "result_display"]}),
        (
            _("Attempts"),
            {
                "fields": [
                    "attempts_display",
                    "max_attempts",
                    "on_lost",
                    "retry_policy_display",
                    "timeout_soft",
                    "timeout_hard",
                    "progress_display",
                    "progress_detail_display",
                    "worker_id",
                    "lease_expires",
                ]
            },
        ),
        (
            _("Times"),
            {
                "fields": [
                    "enqueued",
                    "run_after_display",
                    "started",
                    "last_attempted",
                    "finished",
                    "duration_seconds",
                ]
            },
        ),
        (
            _("Cancellation"),
            {"fields": ["cancel_requested", "cancelled_by", "cancel_reason"]},
        ),
    ]

    # Shown only for a task under a concurrency cap or a rate limit.
    limits_fieldset: tuple[Any, Any] = (
        _("Limits"),
        {
            "fields": [
                "concurrency_display",
                "rate_limit_display",
            ]
        },
    )

    enqueued = precise_time("enqueued_at", _("enqueued at"))
    run_after_display = precise_time("run_after", _("run after"))
    started = precise_time("started_at", _("started at"))
    last_attempted = precise_time("last_attempted_at", _("last attempted at"))
    finished = precise_time("finished_at", _("finished at"))
    lease_expires = precise_time("lease_expires_at", _("lease expires at"))
    cancel_requested = precise_time("cancel_requested_at", _("cancel requested at"))

    def get_queryset(self, request: HttpRequest) -> QuerySet[models.Task]:
        tasks = cast("QuerySet[models.Task]", super().get_queryset(request))
        match = request.resolver_match
        if match is not None and (match.url_name or "").endswith("_changelist"):
            # The page's progress attempts are read by TaskChangeList.
            return tasks.defer(*LIST_DEFERRED)
        return tasks.annotate(
            progress_attempt=last_progress_attempt(),
            reveal_encrypted=Value(payload_display.sees_encrypted(request.user)),
        )

    def get_changelist(self, request: HttpRequest, **kwargs: Any) -> type[TaskChangeList]:
        return TaskChangeList

    def get_fieldsets(self, request: HttpRequest, obj: Any = None) -> Any:
        fieldsets = list(self.fieldsets)
        if obj is not None and obj.gate_key:
            fieldsets.insert(1, self.limits_fieldset)
        return fieldsets

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[models.Task], search_term: str
    ) -> tuple[QuerySet[models.Task], bool]:
        return search_tasks(queryset, search_term), False

    @admin.display(description=_("status"), ordering="status")
    def status_display(self, task: models.Task) -> str:
        colour = STATUS_COLOURS.get(Status(task.status), "inherit")
        return format_html(
            '<span style="color: {}; font-weight: bold">\u25cf {}</span>',
            colour,
            task.get_status_display(),
        )

    @admin.display(description=_("tags"))
    def tags_display(self, task: models.Task) -> str:
        return ", ".join(str(tag) for tag in task.tags or ())

    @admin.display(description=_("progress"))
    def progress_bar(self, task: models.Task) -> str:
        progress = current_progress(task)
        if progress is None:
            return ""
        return format_html(
            '<progress value="{}" max="100" title="{}">{}</progress>',
            round(progress * 100),
            f"{progress:.0%}",
            f"{progress:.0%}",
        )

    @admin.display(description=_("arguments"))
    def args_display(self, task: models.Task) -> str:
        return pretty_json(shown_payload(task)["args"])

    @admin.display(description=_("keyword arguments"))
    def kwargs_display(self, task: models.Task) -> str:
        return pretty_json(shown_payload(task)["kwargs"])

    @admin.display(description=_("result"))
    def result_display(self, task: models.Task) -> str:
        result = shown_payload(task)["result"]
        return "" if result is None else pretty_json(result)

    @admin.display(description=_("original task"))
    def original_link(self, task: models.Task) -> str:
        """The task this one repeats (requeued, or retried with edited arguments)."""
        if task.original is None:
            return ""
        url = reverse("admin:django_taskflow_task_change", args=[task.original])
        return format_html('<a href="{}">{}</a>', url, task.original)

    @admin.display(description=_("flow"))
    def flow_link(self, task: models.Task) -> str:
        """The flow this task is a step of, and its position there."""
        if task.flow_id is None:
            return ""
        url = reverse("admin:django_taskflow_flow_change", args=[task.flow_id])
        return format_html('<a href="{}">{}</a> (step {})', url, task.flow_id, task.flow_position)

    @admin.display(description=_("fired by schedule"))
    def schedule_link(self, task: models.Task) -> str:
        """The schedule and planned time that enqueued this task, if a schedule did."""
        run = (
            models.ScheduleRun.objects.filter(task=task.pk)
            .select_related("schedule")
            .only("planned_at", "schedule__name")
            .first()
        )
        if run is None:
            return ""
        url = reverse("admin:django_taskflow_schedule_change", args=[run.schedule_id])
        return format_html(
            '<a href="{}">{}</a> (planned for {})',
            url,
            run.schedule.name,
            format_time(run.planned_at),
        )

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return [
            str(name)
            for fieldset in self.get_fieldsets(request, obj)
            for name in fieldset[1]["fields"]
        ]

    @admin.display(description=_("concurrency cap"))
    def concurrency_display(self, task: models.Task) -> str:
        if not task.concurrency_key:
            return ""
        return (
            f"{task.concurrency_limit} at once in group {task.concurrency_key} "
            f"({task.concurrency_strategy})"
        )

    @admin.display(description=_("rate limit"))
    def rate_limit_display(self, task: models.Task) -> str:
        if not task.rate_key:
            return ""
        return f"{task.rate_limit} per {task.rate_seconds:g} s in group {task.rate_key}"

    @admin.display(description=_("requires"))
    def requires_display(self, task: models.Task) -> str:
        return ", ".join(task.requires or ())

    @admin.display(description=_("waiting for"))
    def waiting_for(self, task: models.Task) -> str:
        """Why a queued task has not started (``waiting.why_waiting``); empty otherwise."""
        return "; ".join(reason.message for reason in waiting.why_waiting(task))

    @admin.display(description=_("attempts"))
    def attempts_display(self, task: models.Task) -> str:
        return attempts_summary(task)

    @admin.display(description=_("retry policy"))
    def retry_policy_display(self, task: models.Task) -> str:
        return json.dumps(policy_without_duplicates(task))

    @admin.display(description=_("duration (s)"))
    def duration_seconds(self, task: models.Task) -> str:
        return "" if task.duration is None else f"{task.duration:.3f}"

    @admin.display(description=_("progress"))
    def progress_display(self, task: models.Task) -> str:
        progress = current_progress(task)
        return "" if progress is None else f"{progress:.0%}"

    @admin.display(description=_("progress detail"))
    def progress_detail_display(self, task: models.Task) -> str:
        if current_progress(task) is None:
            return ""
        return json.dumps(shown_payload(task)["progress_detail"])


# The Schedule, dead-letter, stuck-task, service and (read-only) worker admins live in
# their own modules; importing them registers them.
from django_taskflow import (  # noqa: E402, F401
    alert_admin,
    flow_admin,
    operator_admin,
    schedule_admin,
    service_admin,
    worker_admin,
)
