"""The task admin: the list of tasks and each task's page, read-only.

The list reads only small columns (the JSON ones are deferred), filters
through indexes and never counts the whole table. The actions live in
``admin_actions.py``, the filters in ``admin_filters.py``, the attempts
and timeline below a task in ``admin_inlines.py``.
"""

from __future__ import annotations

import json
from typing import Any, cast

from django.contrib import admin
from django.db.models import QuerySet, Value
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from django_taskflow import models, payload_display, waiting
from django_taskflow.admin_actions import TaskActions
from django_taskflow.admin_changelist import TaskChangeList, last_progress_attempt
from django_taskflow.admin_display import (
    LIST_DEFERRED,
    STATUS_COLOURS,
    ReadOnlyMixin,
    attempts_summary,
    current_progress,
    format_time,
    policy_without_duplicates,
    precise_time,
    pretty_json,
    shown_payload,
    task_link,
)
from django_taskflow.admin_filters import (
    QueueFilter,
    TagFilter,
    TaskNameFilter,
    WorkerFilter,
    search_tasks,
)
from django_taskflow.admin_inlines import AttemptInline, EventInline
from django_taskflow.admin_paginator import EstimatedCountPaginator
from django_taskflow.states import Status


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
        return "" if task.original is None else task_link(task.original)

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
