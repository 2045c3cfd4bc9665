"""A task's attempts and timeline, shown below it on its admin page."""

from __future__ import annotations

import json
from typing import Any, cast

from django.contrib import admin
from django.db.models import Model, QuerySet, Value
from django.http import HttpRequest
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from django_taskflow import models, payload_display
from django_taskflow.admin_display import ReadOnlyMixin, precise_time


class RevealingInline(ReadOnlyMixin, admin.TabularInline):  # type: ignore[type-arg]
    """A read-only inline whose rows carry whether this viewer sees encrypted texts decrypted."""

    extra = 0
    can_delete = False

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        reveal = payload_display.sees_encrypted(request.user)
        rows = cast("QuerySet[Model]", super().get_queryset(request))
        annotated: QuerySet[Any] = rows.annotate(reveal_encrypted=Value(reveal))
        return annotated


# The admin classes are generic only in the type stubs, not at run time.
class AttemptInline(RevealingInline):
    model = models.Attempt
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


class EventInline(RevealingInline):
    """The task's timeline: started, progress, retries, the end."""

    model = models.Event
    fields = readonly_fields = ("created", "kind", "attempt", "data_display")
    verbose_name_plural = _("timeline")

    created = precise_time("created_at", _("created at"))

    @admin.display(description=_("data"))
    def data_display(self, event: models.Event) -> str:
        reveal = bool(getattr(event, "reveal_encrypted", False))
        return json.dumps(payload_display.event_data(event, event.task, reveal=reveal))
