"""The admin of long-running services: their state, their messages set aside as dead.

Read-only, like the task history: services are started from code. Staff
with the ``steer_service`` permission can stop or restart them, through
``operations``.
"""

from __future__ import annotations

import json
from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html_join
from django.utils.safestring import SafeString
from django.utils.translation import gettext_lazy as _

from django_taskflow import access, models, operations
from django_taskflow.admin import ReadOnlyMixin
from django_taskflow.exceptions import TaskflowError
from django_taskflow.services import api as services_api

RECENT_EVENTS = 20


@admin.register(models.Service)
class ServiceAdmin(ReadOnlyMixin, admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ("name", "state", "owner", "last_tick_at", "backlog", "dead", "restarts")
    list_filter = ("state",)
    search_fields = ("name", "service_path")
    actions = ["stop_services", "restart_services"]
    fields = readonly_fields = (
        "name",
        "service_path",
        "state",
        "config_display",
        "owner",
        "lease_expires_at",
        "created_at",
        "started_at",
        "last_tick_at",
        "stopped_at",
        "restarts",
        "errors_display",
        "recent_events",
    )

    def get_queryset(self, request: HttpRequest) -> QuerySet[models.Service]:
        queryset: QuerySet[models.Service] = super().get_queryset(request)
        return services_api.with_counts(queryset)

    def has_steer_permission(self, request: HttpRequest) -> bool:
        return bool(request.user.has_perm(access.STEER_SERVICE))

    @admin.display(description=_("backlog"), ordering="pending_count")
    def backlog(self, service: Any) -> int:
        return int(service.pending_count)

    @admin.display(description=_("dead messages"), ordering="dead_count")
    def dead(self, service: Any) -> int:
        return int(service.dead_count)

    @admin.display(description=_("config"))
    def config_display(self, service: models.Service) -> str:
        return json.dumps(service.config, indent=2)

    @admin.display(description=_("errors"))
    def errors_display(self, service: models.Service) -> SafeString:
        return format_html_join(
            "\n",
            "<p>{} {} in {}: {}</p><pre>{}</pre>",
            (
                (
                    e.get("at"),
                    e.get("error_class"),
                    e.get("handler"),
                    e.get("message"),
                    e.get("traceback"),
                )
                for e in reversed(service.errors)
            ),
        )

    @admin.display(description=_("recent events"))
    def recent_events(self, service: models.Service) -> SafeString:
        events = service.events.order_by("-id")[:RECENT_EVENTS]
        return format_html_join(
            "\n",
            "<div>{} {} {} {}</div>",
            ((e.created_at, e.kind, e.owner, json.dumps(e.data)) for e in events),
        )

    @admin.action(description=_("Stop selected services"), permissions=["steer"])
    def stop_services(self, request: HttpRequest, queryset: QuerySet[models.Service]) -> None:
        for service in queryset:
            operations.stop_service(service.name, by=request.user)
        self.message_user(
            request, _("Asked %(count)d service(s) to stop.") % {"count": len(queryset)}
        )

    @admin.action(description=_("Restart selected services"), permissions=["steer"])
    def restart_services(self, request: HttpRequest, queryset: QuerySet[models.Service]) -> None:
        for service in queryset:
            try:
                operations.restart_service(service.name, by=request.user)
            except TaskflowError as exc:
                self.message_user(request, str(exc), level=messages.ERROR)
            else:
                self.message_user(request, _("%(name)s: restarted.") % {"name": service.name})


@admin.register(models.ServiceMessage)
class ServiceMessageAdmin(ReadOnlyMixin, admin.ModelAdmin):  # type: ignore[type-arg]
    """Messages waiting for their service, and those set aside as dead."""

    list_display = ("id", "service", "state", "deliveries", "created_at")
    list_filter = ("state",)
    search_fields = ("service__name",)
    fields = readonly_fields = (
        "service",
        "state",
        "body",
        "deliveries",
        "created_at",
        "last_error",
    )
