"""The read-only admin of running workers (``WorkerProcess`` rows).

Workers write their rows themselves (``worker/presence.py``); the admin
only shows them: no add, change or delete, so a user needs only the view
permission. A row whose heartbeat lapsed shows as gone until a live
worker sweeps it (a day later).
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString
from django.utils.translation import gettext_lazy as _

from django_taskflow import models, worker_status


class AliveFilter(admin.SimpleListFilter):
    title = _("alive")
    parameter_name = "alive"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, Any]]:
        return [("yes", _("Alive")), ("no", _("Gone"))]

    def queryset(
        self, request: HttpRequest, queryset: QuerySet[models.WorkerProcess]
    ) -> QuerySet[models.WorkerProcess]:
        if self.value() == "yes":
            return queryset.filter(worker_status.alive_condition())
        if self.value() == "no":
            return queryset.exclude(worker_status.alive_condition())
        return queryset


# The admin classes are generic only in the type stubs, not at run time.
@admin.register(models.WorkerProcess)
class WorkerProcessAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = [
        "worker_id",
        "alive_display",
        "host",
        "pid",
        "name",
        "queues_display",
        "capabilities_display",
        "slots_display",
        "running_display",
        "started_at",
        "last_heartbeat",
    ]
    list_filter = [AliveFilter, "host"]
    search_fields = ["=worker_id", "host", "name", "=slots__worker_id"]
    readonly_fields = [
        "worker_id",
        "alive_display",
        "host",
        "pid",
        "name",
        "backend",
        "queues_display",
        "capabilities_display",
        "slots_display",
        "running_display",
        "started_at",
        "last_heartbeat",
        "alive_until",
    ]
    fields = tuple(readonly_fields)

    def get_queryset(self, request: HttpRequest) -> QuerySet[models.WorkerProcess]:
        return worker_status.with_alive(super().get_queryset(request))

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description=_("state"), ordering="alive_until")
    def alive_display(self, worker: models.WorkerProcess) -> SafeString:
        if getattr(worker, "alive", False):
            return format_html('<span style="color:#2e7d32">{}</span>', _("alive"))
        return format_html('<span style="color:#c62828">{}</span>', _("gone"))

    @admin.display(description=_("queues"))
    def queues_display(self, worker: models.WorkerProcess) -> str:
        return ", ".join(worker.queues) or str(_("(all)"))

    @admin.display(description=_("capabilities"))
    def capabilities_display(self, worker: models.WorkerProcess) -> str:
        return ", ".join(worker.capabilities) or "-"

    @admin.display(description=_("slots"))
    def slots_display(self, worker: models.WorkerProcess) -> SafeString:
        slots = list(worker.slots.all())
        return format_html(
            "{} ({})<br>{}",
            worker.concurrency,
            worker.pool,
            format_html_join(
                "<br>", "{}: {} (pid {})", ((s.index, s.worker_id, s.pid) for s in slots)
            ),
        )

    @admin.display(description=_("running tasks"))
    def running_display(self, worker: models.WorkerProcess) -> SafeString:
        return format_html_join(
            "<br>",
            '<a href="{}">{}</a>',
            (
                (reverse("admin:django_taskflow_task_change", args=[task_id]), task_id)
                for task_id in worker.running_task_ids
            ),
        )
