"""The Flow admin: each flow's steps as an indented list, cancel and resume.

Read-only like the task admin. The two actions are each gated by their
permission (``cancel_flow``, ``resume_flow``) and call ``operations``.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from django_taskflow import models, operations
from django_taskflow.admin_display import ReadOnlyMixin, precise_time, pretty_json, task_link
from django_taskflow.exceptions import InvalidFlowOperation

_STAGE_TITLES = {
    "steps": gettext_lazy("in parallel"),
    "items": gettext_lazy("items"),
    "after": gettext_lazy("callbacks"),
}


@admin.register(models.Flow)
class FlowAdmin(ReadOnlyMixin, admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ["id", "kind", "status", "tags", "created", "finished"]
    list_filter = ["status", "kind"]
    actions = ["cancel_flows", "resume_flows"]
    show_full_result_count = False
    fields = [
        "id",
        "kind",
        "status",
        "error",
        "tags",
        "parent_link",
        "created",
        "deadline",
        "finished",
        "steps_display",
        "result_display",
        "options",
    ]

    created = precise_time("created_at", gettext_lazy("created at"))
    finished = precise_time("finished_at", gettext_lazy("finished at"))

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return self.fields  # type: ignore[return-value]

    @admin.display(description=gettext_lazy("result"))
    def result_display(self, flow: models.Flow) -> str:
        return "" if flow.result is None else pretty_json(flow.result)

    @admin.display(description=gettext_lazy("spawned by"))
    def parent_link(self, flow: models.Flow) -> str:
        return "" if flow.parent_task is None else task_link(flow.parent_task)

    @admin.display(description=gettext_lazy("steps"))
    def steps_display(self, flow: models.Flow) -> SafeString:
        """Stages in order; a stage of several steps lists them indented below it."""
        statuses = {
            str(task_id): status
            for task_id, status in models.Task.objects.filter(flow=flow).values_list("id", "status")
        }
        stages = []
        for index, stage in enumerate(flow.graph.get("stages", [])):
            if not stage["positions"]:
                continue
            items = format_html_join(
                "", "<li>{}</li>", ((self._step(flow, p, statuses),) for p in stage["positions"])
            )
            title = (
                _("stage %(number)d") % {"number": index + 1}
                if len(stage["positions"]) == 1 and stage["kind"] == "steps"
                else _("stage %(number)d, %(kind)s")
                % {"number": index + 1, "kind": _STAGE_TITLES[stage["kind"]]}
            )
            stages.append(format_html("<li>{}<ul>{}</ul></li>", title, items))
        return format_html(
            '<ul class="taskflow-flow-steps">{}</ul>',
            format_html_join("", "{}", ((s,) for s in stages)),
        )

    def _step(self, flow: models.Flow, position: int, statuses: dict[str, str]) -> SafeString:
        step = flow.graph["steps"][position]
        state = flow.steps[position]
        task_id = state.get("task")
        label = format_html("#{} {}", position, step["task"])
        if task_id:
            label = task_link(task_id, label)
            # An open step shows its task's own status (queued or running).
            shown = statuses.get(task_id, "") if state["state"] == "queued" else state["state"]
        else:
            shown = state["state"]
        error = state.get("error", "")
        return format_html(
            '{} <span class="taskflow-step-state">{}</span>{}',
            label,
            shown.replace("_", " "),
            format_html(": {}", error) if error else "",
        )

    def has_cancel_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("django_taskflow.cancel_flow")

    def has_resume_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("django_taskflow.resume_flow")

    @admin.action(permissions=["cancel"], description=gettext_lazy("Cancel selected flows"))
    def cancel_flows(self, request: HttpRequest, queryset: QuerySet[models.Flow]) -> None:
        cancelled = sum(
            operations.cancel_flow(flow_id, by=request.user, backend=backend)
            for flow_id, backend in queryset.values_list("id", "backend")
        )
        self.message_user(
            request,
            ngettext("%(count)d flow cancelled.", "%(count)d flows cancelled.", cancelled)
            % {"count": cancelled},
            messages.SUCCESS if cancelled else messages.INFO,
        )

    @admin.action(permissions=["resume"], description=gettext_lazy("Resume selected failed flows"))
    def resume_flows(self, request: HttpRequest, queryset: QuerySet[models.Flow]) -> None:
        resumed = 0
        for flow_id, backend in queryset.values_list("id", "backend"):
            try:
                operations.resume_flow(flow_id, backend=backend)
            except InvalidFlowOperation as exc:
                self.message_user(request, str(exc), messages.WARNING)
            else:
                resumed += 1
        self.message_user(
            request,
            ngettext("%(count)d flow resumed.", "%(count)d flows resumed.", resumed)
            % {"count": resumed},
            messages.SUCCESS if resumed else messages.INFO,
        )
