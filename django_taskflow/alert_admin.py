"""The read-only admin of alert incidents (``AlertIncident`` rows).

The evaluating worker writes the rows (``alerts/incidents.py``); the admin
only shows them: no add, change or delete, so a user needs only the view
permission. The list opens on the open incidents.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.translation import gettext_lazy as _

from django_taskflow import models


class IncidentStateFilter(admin.SimpleListFilter):
    """Open (the default), pending (FOR not reached yet), resolved, or all."""

    title = _("state")
    parameter_name = "state"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, Any]]:
        return [
            ("open", _("Open")),
            ("pending", _("Pending")),
            ("resolved", _("Resolved")),
            ("all", _("All")),
        ]

    def choices(self, changelist: Any) -> Any:
        # No "All" of Django's own: ours is a lookup, so that "open" can be the default.
        for value, title in self.lookup_choices:
            yield {
                "selected": (self.value() or "open") == value,
                "query_string": changelist.get_query_string({self.parameter_name: value}),
                "display": title,
            }

    def queryset(
        self, request: HttpRequest, queryset: QuerySet[models.AlertIncident]
    ) -> QuerySet[models.AlertIncident]:
        value = self.value() or "open"
        if value == "open":
            return queryset.filter(opened_at__isnull=False, resolved_at__isnull=True)
        if value == "pending":
            return queryset.filter(opened_at__isnull=True, resolved_at__isnull=True)
        if value == "resolved":
            return queryset.filter(resolved_at__isnull=False)
        return queryset


# The admin classes are generic only in the type stubs, not at run time.
@admin.register(models.AlertIncident)
class AlertIncidentAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = [
        "rule",
        "state_display",
        "subject",
        "when",
        "detail",
        "breached_since",
        "opened_at",
        "resolved_at",
    ]
    list_filter = [IncidentStateFilter, "when", "backend"]
    search_fields = ["rule", "subject"]
    readonly_fields = [
        "rule",
        "when",
        "subject",
        "backend",
        "detail",
        "value",
        "breached_since",
        "opened_at",
        "resolved_at",
    ]
    fields = tuple(readonly_fields)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description=_("state"))
    def state_display(self, incident: models.AlertIncident) -> SafeString:
        if incident.resolved_at is not None:
            return format_html('<span style="color:#2e7d32">{}</span>', _("resolved"))
        if incident.opened_at is None:
            return format_html('<span style="color:#8a6d00">{}</span>', _("pending"))
        return format_html('<span style="color:#c62828">{}</span>', _("open"))
