"""The admin: task history with every attempt, read-only for now."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from django_taskflow import models


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
        "started_at",
        "finished_at",
        "duration_seconds",
        "error_class",
        "error_message",
        "error_value",
        "formatted_traceback",
    )

    @admin.display(description=_("duration (s)"))
    def duration_seconds(self, attempt: models.Attempt) -> str:
        return "" if attempt.duration is None else f"{attempt.duration:.3f}"

    @admin.display(description=_("traceback"))
    def formatted_traceback(self, attempt: models.Attempt) -> str:
        if not attempt.traceback:
            return ""
        return format_html(
            '<details><summary>{}</summary><pre style="white-space: pre-wrap">{}</pre></details>',
            _("show"),
            attempt.traceback,
        )


class EventInline(ReadOnlyMixin, admin.TabularInline):  # type: ignore[type-arg]
    """The task's timeline: started, progress, retries, the end."""

    model = models.Event
    extra = 0
    can_delete = False
    fields = readonly_fields = ("created_at", "kind", "attempt", "data")
    verbose_name_plural = _("timeline")


@admin.register(models.Task)
class TaskAdmin(ReadOnlyMixin, admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = [
        "task_path",
        "key",
        "status",
        "queue_name",
        "priority",
        "attempts_display",
        "progress_display",
        "enqueued_at",
        "started_at",
        "finished_at",
        "duration_seconds",
    ]
    list_display_links = ["task_path"]
    list_filter = ["status", "queue_name", "task_path"]
    search_fields = ["=id", "=key", "task_path"]
    date_hierarchy = "enqueued_at"
    inlines = [AttemptInline, EventInline]
    show_full_result_count = False
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
                    "tags",
                    "backend",
                ]
            },
        ),
        (_("Call"), {"fields": ["args", "kwargs", "result"]}),
        (
            _("Attempts"),
            {
                "fields": [
                    "attempts",
                    "lost_attempts",
                    "max_attempts",
                    "on_lost",
                    "retry_policy",
                    "timeout_soft",
                    "timeout_hard",
                    "progress",
                    "progress_detail",
                    "worker_id",
                    "lease_expires_at",
                ]
            },
        ),
        (
            _("Times"),
            {
                "fields": [
                    "enqueued_at",
                    "run_after",
                    "started_at",
                    "last_attempted_at",
                    "finished_at",
                    "duration_seconds",
                ]
            },
        ),
    ]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return [str(name) for fieldset in self.fieldsets for name in fieldset[1]["fields"]]

    @admin.display(description=_("attempts"))
    def attempts_display(self, task: models.Task) -> str:
        # Lost attempts do not use up max_attempts: show them apart.
        counted = f"{task.counted_attempts}/{task.max_attempts}"
        return f"{counted} (+{task.lost_attempts} lost)" if task.lost_attempts else counted

    @admin.display(description=_("duration (s)"))
    def duration_seconds(self, task: models.Task) -> str:
        return "" if task.duration is None else f"{task.duration:.3f}"

    @admin.display(description=_("progress"))
    def progress_display(self, task: models.Task) -> str:
        return "" if task.progress is None else f"{task.progress:.0%}"
