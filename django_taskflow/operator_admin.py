"""The operator's admin pages: dead letters and stuck tasks.

Both are the task table through a proxy model, seen with the task's own
``view_task`` permission. Dead letters (failed tasks) can be retried with
the same arguments (``retry_now``: one more attempt, attempts kept),
retried with edited arguments (a form checked against the task's
signature; a new task linked to the original) or discarded (deleted, with
``delete_task``). Stuck tasks (running, lease long expired) can be
recovered at once.
"""

from __future__ import annotations

import uuid
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import OuterRef, QuerySet, Subquery
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from django_taskflow import models, operations, payload_display, stuck
from django_taskflow.admin_actions import TaskActions, report_to_user
from django_taskflow.admin_display import (
    LIST_DEFERRED,
    ReadOnlyMixin,
    attempts_summary,
    format_time,
)
from django_taskflow.admin_filters import QueueFilter, TaskNameFilter, search_tasks
from django_taskflow.admin_paginator import EstimatedCountPaginator
from django_taskflow.encoding import fields, stored
from django_taskflow.exceptions import TaskflowError
from django_taskflow.states import Status


class OperatorView(TaskActions, ReadOnlyMixin, admin.ModelAdmin):  # type: ignore[type-arg]
    """A filtered view of the task table, visible to whoever may view tasks."""

    list_display_links = None
    show_full_result_count = False
    paginator = EstimatedCountPaginator
    # Searched by search_tasks(), as the task list: id, key, name prefix.
    search_fields = ["task_path"]
    search_help_text = gettext_lazy("A task id, a key, or the start of a task's path.")

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[Any], search_term: str
    ) -> tuple[QuerySet[Any], bool]:
        return search_tasks(queryset, search_term), False

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return request.user.has_perm("django_taskflow.view_task")

    def has_module_permission(self, request: HttpRequest) -> bool:
        return self.has_view_permission(request)

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        return super().get_queryset(request).defer(*LIST_DEFERRED)

    @admin.display(description=gettext_lazy("task"), ordering="task_path")
    def task_link(self, task: models.Task) -> str:
        url = reverse("admin:django_taskflow_task_change", args=[task.pk])
        return format_html('<a href="{}">{}</a>', url, task.task_path)

    @admin.display(description=gettext_lazy("attempts"))
    def attempts_display(self, task: models.Task) -> str:
        return attempts_summary(task)


class RetryWithArgumentsForm(forms.Form):
    """Edited arguments for a new run; checked against the task's signature on save."""

    # Not required: [] and {} are "empty" to Django, and valid calls here.
    args = forms.JSONField(label=gettext_lazy("arguments (a JSON list)"), required=False)
    kwargs = forms.JSONField(
        label=gettext_lazy("keyword arguments (a JSON object)"), required=False
    )

    def clean_args(self) -> list[Any]:
        value = self.cleaned_data["args"]
        if value is None:
            return []
        if not isinstance(value, list):
            raise forms.ValidationError(_("Give a JSON list, e.g. [1, 2]."))
        return value

    def clean_kwargs(self) -> dict[str, Any]:
        value = self.cleaned_data["kwargs"]
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise forms.ValidationError(_('Give a JSON object, e.g. {"name": "value"}.'))
        return value


@admin.register(models.DeadLetter)
class DeadLetterAdmin(OperatorView):
    list_display = [
        "task_link",
        "queue_name",
        "attempts_display",
        "last_error",
        "finished",
        "edit_and_retry",
    ]
    list_filter = [TaskNameFilter, QueueFilter]
    actions = ["retry_tasks", "discard_tasks"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        last_error = (
            models.Attempt.objects.filter(task=OuterRef("pk"))
            .exclude(error_class="")
            .order_by("-number")
        )
        failed: QuerySet[Any] = super().get_queryset(request).filter(status=Status.FAILED)
        annotated: QuerySet[Any] = failed.annotate(
            last_error_class=Subquery(last_error.values("error_class")[:1]),
            last_error_message=Subquery(last_error.values("error_message")[:1]),
        )
        return annotated

    def has_discard_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("django_taskflow.delete_task")

    @admin.action(
        permissions=["discard"],
        description=gettext_lazy("Discard selected dead letters (delete them)"),
    )
    def discard_tasks(self, request: HttpRequest, queryset: QuerySet[models.Task]) -> None:
        report = operations.discard(queryset, by=request.user)
        report_to_user(self, request, report, _("discarded"))

    @admin.display(description=gettext_lazy("last error"))
    def last_error(self, task: models.Task) -> str:
        error_class = getattr(task, "last_error_class", None) or ""
        # An encrypted task's sealed message: [encrypted] here, decrypted on its page.
        message = fields.redact_text(getattr(task, "last_error_message", None) or "")
        return f"{error_class}: {message[:200]}" if message else error_class

    @admin.display(description=gettext_lazy("finished at"), ordering="finished_at")
    def finished(self, task: models.Task) -> str:
        return format_time(task.finished_at)

    @admin.display(description=gettext_lazy("retry"))
    def edit_and_retry(self, task: models.Task) -> str:
        url = reverse("admin:django_taskflow_deadletter_retry", args=[task.pk])
        return format_html('<a href="{}">{}</a>', url, _("edit arguments and retry"))

    def get_urls(self) -> list[URLPattern]:
        retry = path(
            "<uuid:task_id>/retry/",
            self.admin_site.admin_view(self.retry_with_arguments_view),
            name="django_taskflow_deadletter_retry",
        )
        return [retry, *super().get_urls()]

    def retry_with_arguments_view(self, request: HttpRequest, task_id: uuid.UUID) -> HttpResponse:
        """A form with the task's arguments; on save, a new task linked to this one."""
        if not self.has_retry_permission(request):
            raise PermissionDenied
        task = get_object_or_404(models.Task, pk=task_id, status=Status.FAILED)
        reveal = payload_display.sees_encrypted(request.user)
        if stored.read(task.encoding).key_id is not None and not reveal:
            raise PermissionDenied  # editing them would show them
        if request.method == "POST":
            form = RetryWithArgumentsForm(request.POST)
            if form.is_valid():
                try:
                    result = operations.retry_with_arguments(
                        task.pk,
                        args=form.cleaned_data["args"],
                        kwargs=form.cleaned_data["kwargs"],
                        by=request.user,
                        backend=task.backend,
                    )
                except (TypeError, ValueError, TaskflowError) as exc:
                    form.add_error(None, str(exc))
                else:
                    self.message_user(
                        request,
                        _("Retried as a new task %(id)s.") % {"id": result.id},
                        messages.SUCCESS,
                    )
                    url = reverse("admin:django_taskflow_task_change", args=[result.id])
                    return HttpResponseRedirect(url)
        else:
            shown = payload_display.task_payload(task, reveal=reveal)
            form = RetryWithArgumentsForm(
                initial={"args": shown["args"], "kwargs": shown["kwargs"]}
            )
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": _("Retry %(task)s with edited arguments") % {"task": task.task_path},
            "task": task,
            "form": form,
        }
        return TemplateResponse(request, "admin/django_taskflow/retry_with_arguments.html", context)


@admin.register(models.StuckTask)
class StuckTaskAdmin(OperatorView):
    list_display = ["task_link", "queue_name", "worker_id", "lease_expired", "attempts_display"]
    actions = ["recover_tasks"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        tasks = super().get_queryset(request)
        return stuck.stuck(tasks, lease_seconds=stuck.lease_seconds("default"))

    @admin.display(description=gettext_lazy("lease expired at"), ordering="lease_expires_at")
    def lease_expired(self, task: models.Task) -> str:
        return format_time(task.lease_expires_at)

    @admin.action(permissions=["retry"], description=gettext_lazy("Recover now"))
    def recover_tasks(self, request: HttpRequest, queryset: QuerySet[models.Task]) -> None:
        report = operations.recover_stuck(queryset, by=request.user)
        report_to_user(self, request, report, _("recovered"))
