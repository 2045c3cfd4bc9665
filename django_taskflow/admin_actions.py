"""The admin's actions on tasks: cancel, requeue, retry now.

Each is gated by its own permission (``cancel_task``, ``requeue_task``,
``retry_task``): Django leaves an action out of the page, and refuses a
crafted POST naming it, when its ``has_<name>_permission`` says no. Each
calls one function of ``operations.py`` with the changelist's queryset,
which that function walks in chunks of ids: "select all" over 100,000
rows never loads them. The messages say how many tasks changed, and why
the others did not.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from django_taskflow import models, operations
from django_taskflow.rerun import Report


def report_to_user(
    model_admin: admin.ModelAdmin[Any], request: HttpRequest, report: Report, done: str
) -> None:
    """Tell the user how many tasks ``done`` (a verb) applies to, and why the rest were left."""
    model_admin.message_user(
        request,
        ngettext("%(count)d task %(done)s.", "%(count)d tasks %(done)s.", report.changed)
        % {"count": report.changed, "done": done},
        messages.SUCCESS if report.changed else messages.INFO,
    )
    for reason, count in sorted(report.refused.items()):
        model_admin.message_user(
            request,
            ngettext(
                "%(count)d task left as it was: %(reason)s.",
                "%(count)d tasks left as they were: %(reason)s.",
                count,
            )
            % {"count": count, "reason": reason},
            messages.WARNING,
        )


class TaskActions:
    """Mixin for the task admins: the three actions and their permissions."""

    ACTIONS = ("cancel_tasks", "requeue_tasks", "retry_tasks")

    @admin.display(description=mark_safe('<input type="checkbox" id="action-toggle">'))
    def action_checkbox(self, obj: Any) -> SafeString:
        """Django's row checkbox, the same HTML, without a form widget's template.

        Rendering 100 checkbox widgets through the template engine took a
        third of the list's time.
        """
        return format_html(
            '<input type="checkbox" name="{}" value="{}" class="action-select" aria-label="{}">',
            helpers.ACTION_CHECKBOX_NAME,
            str(obj.pk),
            format_html(_("Select this object for an action - {}"), str(obj)),
        )

    def has_cancel_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("django_taskflow.cancel_task")

    def has_requeue_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("django_taskflow.requeue_task")

    def has_retry_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("django_taskflow.retry_task")

    @admin.action(permissions=["cancel"], description=gettext_lazy("Cancel selected tasks"))
    def cancel_tasks(self, request: HttpRequest, queryset: QuerySet[models.Task]) -> None:
        report = operations.cancel_selected(queryset, by=request.user)
        report_to_user(self, request, report, _("cancelled or asked to stop"))  # type: ignore[arg-type]

    @admin.action(
        permissions=["requeue"],
        description=gettext_lazy("Requeue selected tasks (a new task with the same inputs)"),
    )
    def requeue_tasks(self, request: HttpRequest, queryset: QuerySet[models.Task]) -> None:
        report = operations.requeue(queryset, by=request.user)
        report_to_user(self, request, report, _("requeued"))  # type: ignore[arg-type]

    @admin.action(
        permissions=["retry"],
        description=gettext_lazy("Retry selected tasks now (failed or waiting)"),
    )
    def retry_tasks(self, request: HttpRequest, queryset: QuerySet[models.Task]) -> None:
        report = operations.retry_now(queryset, by=request.user)
        report_to_user(self, request, report, _("queued to run now"))  # type: ignore[arg-type]
